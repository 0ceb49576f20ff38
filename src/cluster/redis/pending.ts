/**
 * The request/reply table: requests this node sent and still waits for, by request id. A
 * request to one node settles with its reply, or fails after its timeout; a request to all
 * nodes gathers replies until every node it reached answered, or its timeouts passed.
 *
 * Broadcasts and multicasts wait for many socket writes, so the receiver acknowledges them
 * at once: a node that acknowledged is busy, not gone, and gets `deliveryTimeoutMs` instead
 * of `requestTimeoutMs` to reply.
 */
import { NodeUnreachableError } from '../../errors.js';
import type { AdapterStats, Gathered, NodeReply } from '../adapter.js';
import type { PeerMemory } from './peers.js';

export interface Timeouts {
  /** How long a node has to reply, or to acknowledge. */
  readonly requestTimeoutMs: number;
  /** How long a node that acknowledged has to reply (counted from the request; >= requestTimeoutMs). */
  readonly deliveryTimeoutMs: number;
}

type PendingOne = {
  readonly kind: 'one';
  readonly nodeId: number;
  timer: NodeJS.Timeout;
  readonly resolve: (reply: NodeReply) => void;
  readonly reject: (error: Error) => void;
};
type PendingAll = {
  readonly kind: 'all';
  timer: NodeJS.Timeout;
  readonly replies: NodeReply[];
  readonly from: Set<number>;
  /** Nodes that acknowledged; they get `deliveryTimeoutMs` to reply. */
  readonly acked: Set<number>;
  /** How many replies complete the request; null until the publish reported its receiver count. */
  expected: number | null;
  /** Nodes given up on when the request timeout passed without their ack or reply. */
  givenUp: number;
  readonly resolve: (gathered: Gathered) => void;
};

export class PendingRequests {
  #nextId = 1;
  readonly #entries = new Map<number, PendingOne | PendingAll>();
  readonly #timeouts: Timeouts;
  readonly #stats: Pick<AdapterStats, 'requestTimeouts'>;
  readonly #peers: PeerMemory;

  /** `stats.requestTimeouts` counts the nodes that did not answer in time; `peers` estimates the audience a failed broadcast had. */
  constructor(timeouts: Timeouts, stats: Pick<AdapterStats, 'requestTimeouts'>, peers: PeerMemory) {
    this.#timeouts = timeouts;
    this.#stats = stats;
    this.#peers = peers;
  }

  /** Registers a request to node `target`; `reply` settles with its reply, or rejects with NodeUnreachableError. */
  one(target: number): { readonly id: number; readonly reply: Promise<NodeReply> } {
    const id = this.#nextId++;
    const reply = new Promise<NodeReply>((resolve, reject) => {
      const entry: PendingOne = { kind: 'one', nodeId: target, timer: this.#expireOne(id, target, this.#timeouts.requestTimeoutMs, reject), resolve, reject };
      this.#entries.set(id, entry);
    });
    return { id, reply };
  }

  /** Registers a request to all other nodes; `gathered` resolves with the replies that came in time (never rejects). */
  all(): { readonly id: number; readonly gathered: Promise<Gathered> } {
    const id = this.#nextId++;
    const gathered = new Promise<Gathered>((resolve) => {
      const entry: PendingAll = { kind: 'all', timer: afterIo(this.#timeouts.requestTimeoutMs, () => this.#firstCall(id, entry)), replies: [], from: new Set(), acked: new Set(), expected: null, givenUp: 0, resolve };
      this.#entries.set(id, entry);
    });
    return { id, gathered };
  }

  /** Fails request `id` to one node now (its publish failed or reached nobody). */
  rejectOne(id: number, error: Error): void {
    this.#settleOne(id)?.reject(error);
  }

  /** The request to all `id` reached `audience` other nodes: it completes once that many replied. */
  reached(id: number, audience: number): void {
    this.#peers.noteAudience(audience);
    const entry = this.#entries.get(id);
    if (entry?.kind !== 'all' || entry.givenUp > 0) return; // the count came after the request timeout
    entry.expected = audience;
    if (entry.replies.length >= entry.expected) this.finishAll(id);
  }

  /** Resolves request to all `id` with what came; `expected` unknown (its publish failed) counts the known peers as unreached. */
  finishAll(id: number): void {
    const entry = this.#entries.get(id);
    if (entry?.kind !== 'all') return;
    this.#entries.delete(id);
    clearTimeout(entry.timer);
    entry.resolve({ replies: entry.replies, unreached: this.#missing(entry) });
  }

  /** Node `from` acknowledged request `id`: it is busy, and gets `deliveryTimeoutMs`. */
  ack(from: number, id: number): void {
    const entry = this.#entries.get(id);
    if (entry?.kind === 'one' && entry.nodeId === from) {
      clearTimeout(entry.timer);
      entry.timer = this.#expireOne(id, from, this.#timeouts.deliveryTimeoutMs, entry.reject);
    } else if (entry?.kind === 'all') entry.acked.add(from);
  }

  /** Node `from` replied to request `id`. A late reply (after the timeout) or one from another node is ignored. */
  reply(from: number, id: number, reply: NodeReply): void {
    const entry = this.#entries.get(id);
    if (entry === undefined) return;
    if (entry.kind === 'one') {
      if (entry.nodeId === from) this.#settleOne(id)?.resolve(reply);
    } else if (!entry.from.has(from)) {
      entry.from.add(from);
      entry.replies.push(reply);
      if (entry.expected !== null && entry.replies.length >= entry.expected) this.finishAll(id);
    }
  }

  /** Settles every request now (this node leaves): requests to one node fail, requests to all resolve with what came. */
  closeAll(): void {
    for (const [id, entry] of this.#entries) {
      if (entry.kind === 'one') this.rejectOne(id, new NodeUnreachableError(entry.nodeId, 'this node left the cluster'));
      else this.finishAll(id);
    }
  }

  #expireOne(id: number, target: number, ms: number, reject: (error: Error) => void): NodeJS.Timeout {
    return afterIo(ms, () => {
      if (this.#settleOne(id) === undefined) return;
      this.#stats.requestTimeouts += 1;
      reject(new NodeUnreachableError(target, `no reply within ${ms} ms`));
    });
  }

  #settleOne(id: number): PendingOne | undefined {
    const entry = this.#entries.get(id);
    if (entry?.kind !== 'one') return undefined;
    this.#entries.delete(id);
    clearTimeout(entry.timer);
    return entry;
  }

  /**
   * The request timeout passed. Nodes that neither replied nor acknowledged are given up on;
   * if some acknowledged, they get the rest of `deliveryTimeoutMs`, else the request ends.
   */
  #firstCall(id: number, entry: PendingAll): void {
    if (this.#entries.get(id) !== entry) return;
    const busy = [...entry.acked].filter((node) => !entry.from.has(node)).length;
    if (busy === 0) return this.#lastCall(id, entry);
    const silent = Math.max(0, (entry.expected ?? this.#peers.known()) - entry.replies.length - busy);
    this.#stats.requestTimeouts += silent;
    entry.givenUp = silent;
    entry.expected = entry.replies.length + busy;
    entry.timer = afterIo(Math.max(1, this.#timeouts.deliveryTimeoutMs - this.#timeouts.requestTimeoutMs), () => this.#lastCall(id, entry));
  }

  #lastCall(id: number, entry: PendingAll): void {
    if (this.#entries.get(id) !== entry) return;
    // `missing` includes the nodes #firstCall gave up on and already counted: they are counted
    // twice. Kept as the adapter did before it was split in parts (behaviour unchanged); to decide.
    this.#stats.requestTimeouts += this.#missing(entry);
    this.finishAll(id);
  }

  #missing(entry: PendingAll): number {
    return entry.givenUp + Math.max(0, (entry.expected ?? this.#peers.known()) - entry.replies.length);
  }
}

/**
 * `setTimeout`, but the callback runs only after the I/O that arrived meanwhile was read.
 * A node busy in a long write loop (its own share of a broadcast) fires expired timers
 * before it reads the acks and replies waiting on its socket; they must count first.
 */
function afterIo(ms: number, callback: () => void): NodeJS.Timeout {
  return setTimeout(() => setImmediate(callback), ms);
}
