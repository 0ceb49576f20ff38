/**
 * One node's membership of a Redis pub/sub cluster: joining (a node id from `INCR`, then
 * its channels), sending requests, answering requests from other nodes, and leaving. It
 * wires the parts together: {@link RedisConnections} talks to Redis, {@link NumberedPublisher}
 * and {@link GapCounter} number messages and count losses, {@link PendingRequests} matches
 * replies to requests.
 *
 * Each node subscribes to its own channel (`<prefix>:node:<id>`) and to `<prefix>:all`.
 */
import type { RedisOptions } from 'ioredis';
import { ClusterError, describe, NodeUnreachableError, WsActorError } from '../../errors.js';
import type { Logger } from '../../runtime/logger.js';
import { MAX_NODE_ID, type Gathered, type NodeReply, type NodeRequest, type RequestHandler } from '../adapter.js';
import type { RedisAdapterStats } from '../redis-adapter.js';
import { decodeMessage, type WireRequest } from '../wire.js';
import { RedisConnections } from './connections.js';
import { PeerMemory } from './peers.js';
import { PendingRequests } from './pending.js';
import { GapCounter, NumberedPublisher } from './sequence.js';
import { rateLimited } from './throttled-log.js';

export interface NodeSettings {
  readonly url?: string;
  readonly redis?: RedisOptions;
  readonly prefix: string;
  readonly requestTimeoutMs: number;
  readonly deliveryTimeoutMs: number;
  readonly logger: Logger;
}

/** Requests whose answer waits for many socket writes: the receiver acknowledges them first. */
const ACKED_OPS: ReadonlySet<NodeRequest['op']> = new Set(['broadcast', 'multicast']);

export class RedisNode {
  readonly stats: RedisAdapterStats = { published: 0, publishFailed: 0, received: 0, gaps: 0, requestTimeouts: 0, reconnects: 0, malformed: 0 };
  #state: 'idle' | 'joining' | 'joined' | 'left' = 'idle';
  #nodeId = 0;
  /** Set once this node has its id; until then (and after a failed join) nothing is answered. */
  #handler: RequestHandler | null = null;
  #leaving: Promise<void> | null = null;
  readonly #allChannel: string;
  readonly #seqKey: string;
  readonly #prefix: string;
  readonly #logger: Logger;
  readonly #connections: RedisConnections;
  readonly #publisher: NumberedPublisher;
  readonly #gaps: GapCounter;
  readonly #peers = new PeerMemory();
  readonly #pending: PendingRequests;
  readonly #warnMalformed: (error: unknown) => void;
  readonly #warnReply: (error: unknown) => void;

  constructor(settings: NodeSettings) {
    const { url, redis, prefix, logger } = settings;
    this.#prefix = prefix;
    this.#allChannel = `${prefix}:all`;
    this.#seqKey = `${prefix}:node-seq`;
    this.#logger = logger;
    this.#connections = new RedisConnections({
      url,
      redis,
      logger,
      stats: this.stats,
      // A Redis restart may have lost node-seq: put it back to at least our id, so it is not handed out again.
      onReconnect: (which) => {
        if (which === 'publisher' && this.#state === 'joined') this.#connections.raiseAtLeast(this.#seqKey, this.#nodeId);
      },
    });
    this.#publisher = new NumberedPublisher(this.#connections, this.stats);
    this.#gaps = new GapCounter(this.#allChannel, this.stats, logger);
    this.#pending = new PendingRequests(settings, this.stats, this.#peers);
    this.#warnMalformed = rateLimited(logger, 'Dropped malformed cluster messages');
    this.#warnReply = rateLimited(logger, 'Could not publish cluster replies');
  }

  async join(requestHandler: RequestHandler): Promise<number> {
    if (this.#state !== 'idle') throw new ClusterError(`join() can be called once, on a new adapter (this one is ${this.#state})`);
    this.#state = 'joining';
    const seqKey = this.#seqKey;
    await this.#joinStep('connecting to Redis', () => this.#connections.connect());
    const id = await this.#joinStep(`INCR ${seqKey}`, () => this.#connections.increment(seqKey));
    if (id > MAX_NODE_ID) this.#abortJoin('taking a node id', new ClusterError(`Node ids are exhausted: ${seqKey} is ${id}, over ${MAX_NODE_ID}`));
    this.#nodeId = id;
    // From here on requests are answered (also while join() finishes), so none is lost.
    this.#handler = requestHandler;
    await this.#joinStep('SUBSCRIBE', () => this.#connections.subscribe(this.#onMessage, this.#nodeChannel(id), this.#allChannel));
    const subscribers = await this.#joinStep('PUBSUB NUMSUB', () => this.#connections.countSubscribers(this.#allChannel));
    this.#peers.noteAudience(Math.max(0, subscribers - 1));
    this.#state = 'joined';
    return id;
  }

  request(target: number, req: NodeRequest, payload: Buffer | null): Promise<NodeReply> {
    if (this.#state !== 'joined') return Promise.reject(new NodeUnreachableError(target, `this node has ${this.#state === 'left' ? 'left' : 'not joined'} the cluster`));
    if (!Number.isSafeInteger(target) || target < 1 || target > MAX_NODE_ID) return Promise.reject(new NodeUnreachableError(target, 'not a node id'));
    const { id, reply } = this.#pending.one(target);
    this.#publisher.publish(this.#nodeChannel(target), (seq) => ({ kind: 'req', from: this.#nodeId, seq, id, request: req, payload })).then(
      (receivers) => {
        if (receivers === 0) this.#pending.rejectOne(id, new NodeUnreachableError(target, 'no such node'));
      },
      (error: unknown) => this.#pending.rejectOne(id, new NodeUnreachableError(target, `publish failed: ${describe(error)}`, { cause: error })),
    );
    return reply;
  }

  requestAll(req: NodeRequest, payload: Buffer | null): Promise<Gathered> {
    if (this.#state !== 'joined') return Promise.resolve({ replies: [], unreached: 0 });
    const { id, gathered } = this.#pending.all();
    this.#publisher.publish(this.#allChannel, (seq) => ({ kind: 'req', from: this.#nodeId, seq, id, request: req, payload })).then(
      // Our own subscriber is one of the receivers, unless it is reconnecting (then no reply can reach us anyway).
      (receivers) => this.#pending.reached(id, Math.max(0, receivers - (this.#connections.subscriberReady ? 1 : 0))),
      () => this.#pending.finishAll(id), // Redis is down: no replies, and every peer we knew of is unreached
    );
    return gathered;
  }

  leave(): Promise<void> {
    this.#leaving ??= (async () => {
      this.#state = 'left';
      this.#pending.closeAll();
      await this.#connections.close();
    })();
    return this.#leaving;
  }

  #nodeChannel(id: number): string {
    return `${this.#prefix}:node:${id}`;
  }

  /** Runs one step of `join()`; a failure, or a `leave()` meanwhile, aborts the join. */
  async #joinStep<T>(what: string, work: () => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await work();
    } catch (error) {
      return this.#abortJoin(what, error);
    }
    return this.#state === 'joining' ? result : this.#abortJoin(what, new ClusterError('leave() was called during join()'));
  }

  #abortJoin(what: string, error: unknown): never {
    if (this.#state === 'joining') this.#state = 'left';
    this.#handler = null;
    this.#connections.disconnect();
    throw error instanceof ClusterError ? error : new ClusterError(`Cannot join the Redis cluster: ${what} failed: ${describe(error)}`, { cause: error });
  }

  /** Every message on our channels, in arrival order (an arrow: it is the subscriber's listener). */
  readonly #onMessage = (channelBytes: Buffer, bytes: Buffer): void => {
    const answer = this.#handler;
    if (answer === null || this.#state === 'left') return;
    const channel = channelBytes.toString();
    const decoded = decodeMessage(bytes);
    if (!decoded.ok || (decoded.message.kind !== 'req' && channel === this.#allChannel)) {
      this.stats.malformed += 1;
      this.#warnMalformed(new ClusterError(`Malformed message on ${channel}: ${decoded.ok ? 'a reply on the all channel' : decoded.reason}`));
      return;
    }
    const message = decoded.message;
    if (channel === this.#allChannel && message.from === this.#nodeId) return; // our own broadcast
    this.stats.received += 1;
    if (message.from !== this.#nodeId) this.#peers.heardFrom(message.from);
    this.#gaps.check(message.from, channel, message.seq);
    if (message.kind === 'req') this.#answer(answer, message);
    else if (message.kind === 'rep') this.#pending.reply(message.from, message.id, message.reply);
    else this.#pending.ack(message.from, message.id);
  };

  /** Acknowledges (broadcast, multicast), runs the handler and publishes its reply, or its failure as an error reply. */
  #answer(answer: RequestHandler, message: WireRequest): void {
    const toSender = this.#nodeChannel(message.from);
    const failed = (error: unknown): NodeReply => {
      this.#logger.error(`Cluster request ${message.request.op} from node ${message.from} failed`, error);
      const wire = error instanceof WsActorError ? error : new ClusterError(describe(error));
      return { op: 'result', error: { code: wire.code, message: wire.message } };
    };
    if (ACKED_OPS.has(message.request.op)) {
      this.#publisher.publish(toSender, (seq) => ({ kind: 'ack', from: this.#nodeId, seq, id: message.id })).catch((error: unknown) => this.#warnReply(error));
    }
    let result: NodeReply | Promise<NodeReply>;
    // Called synchronously, in arrival order: the handler starts its socket writes before it returns.
    try {
      result = answer(message.request, message.payload);
    } catch (error) {
      result = failed(error);
    }
    Promise.resolve(result)
      .catch(failed)
      .then((reply) => {
        if (this.#state === 'left') return;
        this.#publisher.publish(toSender, (seq) => ({ kind: 'rep', from: this.#nodeId, seq, id: message.id, reply })).catch((error: unknown) => this.#warnReply(error));
      })
      .catch((error: unknown) => this.#warnReply(error));
  }
}
