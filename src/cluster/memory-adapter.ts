/**
 * Several servers in one process as one cluster, without a broker: useful for tests and for
 * apps that run more than one server (e.g. on two ports) in a process. Messages are copied
 * as they would be on a wire and delivered in send order, one microtask each.
 */
import { ClusterError, NodeUnreachableError } from '../errors.js';
import { optionScope, readOptions, timerMs } from '../validate.js';
import { MAX_NODE_ID, type AdapterStats, type ClusterAdapter, type Gathered, type NodeReply, type NodeRequest, type RequestHandler } from './adapter.js';

/** Options of {@link MemoryCluster.adapter}. */
export interface MemoryAdapterOptions {
  /** Milliseconds to wait for another node's reply. Default: 5000. */
  requestTimeoutMs?: number;
}

const adapterScope = optionScope('MemoryCluster.adapter');

/** A cluster inside one process; hand each server its own `cluster.adapter()`. */
export class MemoryCluster {
  readonly #nodes = new Map<number, RequestHandler>();
  #nextNodeId = 1;

  /** A new adapter, for one server; bad options throw `InvalidOptionError` (`WSA_ERR_INVALID_OPTION`). */
  adapter(options: MemoryAdapterOptions = {}): ClusterAdapter {
    const { requestTimeoutMs } = readOptions(adapterScope, options, { requestTimeoutMs: timerMs() }, { requestTimeoutMs: 5000 });
    return new MemoryAdapter(this, requestTimeoutMs);
  }

  /** @internal */
  add(handler: RequestHandler): number {
    if (this.#nextNodeId > MAX_NODE_ID) throw new ClusterError('Node ids exhausted');
    const id = this.#nextNodeId++;
    this.#nodes.set(id, handler);
    return id;
  }

  /** @internal */
  remove(nodeId: number): void {
    this.#nodes.delete(nodeId);
  }

  /** @internal */
  handlerOf(nodeId: number): RequestHandler | undefined {
    return this.#nodes.get(nodeId);
  }

  /** @internal */
  others(nodeId: number): number[] {
    return [...this.#nodes.keys()].filter((id) => id !== nodeId);
  }
}

/** A new in-process cluster. */
export function memoryCluster(): MemoryCluster {
  return new MemoryCluster();
}

class MemoryAdapter implements ClusterAdapter {
  readonly stats: AdapterStats = { published: 0, publishFailed: 0, received: 0, gaps: 0, requestTimeouts: 0, reconnects: 0 };
  readonly #cluster: MemoryCluster;
  readonly #timeoutMs: number;
  #nodeId: number | null = null;
  #left = false;

  constructor(cluster: MemoryCluster, timeoutMs: number) {
    this.#cluster = cluster;
    this.#timeoutMs = timeoutMs;
  }

  join(handler: RequestHandler): Promise<number> {
    if (this.#nodeId !== null || this.#left) return Promise.reject(new ClusterError('This adapter already joined; use one adapter per server'));
    this.#nodeId = this.#cluster.add(handler);
    return Promise.resolve(this.#nodeId);
  }

  request(nodeId: number, request: NodeRequest, payload: Buffer | null): Promise<NodeReply> {
    if (this.#nodeId === null || this.#left) return Promise.reject(new NodeUnreachableError(nodeId, 'this node is not in the cluster'));
    const handler = this.#cluster.handlerOf(nodeId);
    if (handler === undefined || nodeId === this.#nodeId) return Promise.reject(new NodeUnreachableError(nodeId, 'no such node'));
    this.stats.published++;
    // Copies stand in for the wire: nothing is shared between nodes by reference.
    const copy = structuredClone(request);
    const bytes = payload === null ? null : Buffer.from(payload);
    return new Promise<NodeReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.stats.requestTimeouts++;
        reject(new NodeUnreachableError(nodeId, `no reply within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      const failed = (error: unknown): void => {
        clearTimeout(timer);
        reject(new NodeUnreachableError(nodeId, 'its handler failed', { cause: error }));
      };
      // One microtask per message, handler called in it: FIFO, so send order is kept.
      queueMicrotask(() => {
        let reply: NodeReply | Promise<NodeReply>;
        try {
          reply = handler(copy, bytes);
        } catch (error) {
          failed(error);
          return;
        }
        Promise.resolve(reply).then((value) => {
          clearTimeout(timer);
          this.stats.received++;
          resolve(structuredClone(value));
        }, failed);
      });
    });
  }

  async requestAll(request: NodeRequest, payload: Buffer | null): Promise<Gathered> {
    if (this.#nodeId === null || this.#left) return { replies: [], unreached: 0 };
    const others = this.#cluster.others(this.#nodeId);
    const settled = await Promise.allSettled(others.map((node) => this.request(node, request, payload)));
    const replies = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    return { replies, unreached: others.length - replies.length };
  }

  leave(): Promise<void> {
    if (this.#nodeId !== null && !this.#left) this.#cluster.remove(this.#nodeId);
    this.#left = true;
    return Promise.resolve();
  }
}
