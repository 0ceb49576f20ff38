/**
 * A {@link ClusterAdapter} over Redis pub/sub, for servers in several processes or hosts.
 *
 * Each node subscribes to its own channel (`<prefix>:node:<id>`) and to `<prefix>:all`.
 * Every publish goes through one publisher connection in call order, and Redis keeps the
 * order of one connection's commands, so what node A sends to node B arrives in send
 * order across both channels. Pub/sub is at-most-once: a message published while the
 * receiver's subscriber is reconnecting is lost. Senders number their messages per
 * channel so receivers count such losses in `stats.gaps` instead of missing them silently.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { ClusterError, describe, InvalidOptionError, NodeUnreachableError, WsActorError } from '../errors.js';
import { consoleLogger, type Logger } from '../runtime/logger.js';
import { MAX_NODE_ID, type AdapterStats, type ClusterAdapter, type Gathered, type NodeReply, type NodeRequest, type RequestHandler } from './adapter.js';
import { SendNumbers, decodeMessage, encodeMessage, type WireMessage, type WireReply, type WireRequest } from './wire.js';

/** Options of {@link redisAdapter}. */
export interface RedisAdapterOptions {
  /** `redis://[user:pass@]host:port[/db]` (or `rediss://`). Give this or `redis`, not both. Default: 127.0.0.1:6379. */
  readonly url?: string;
  /**
   * ioredis options (host, port, password, tls, retryStrategy, ...). The adapter sets its own
   * `lazyConnect`, `enableOfflineQueue`, `maxRetriesPerRequest`, `autoResendUnfulfilledCommands`,
   * `autoResubscribe` and `enableAutoPipelining` over these.
   */
  readonly redis?: RedisOptions;
  /** Prefix of every key and channel, so several clusters can share one Redis. Default `'wsactor'`. */
  readonly prefix?: string;
  /** How long `request`/`requestAll` wait for a node to answer (or acknowledge a broadcast or multicast). Default 5000. */
  readonly requestTimeoutMs?: number;
  /**
   * How long a node that acknowledged a broadcast or multicast may take to finish its socket
   * writes and report them (at scale that is seconds, not milliseconds). Default 60000.
   */
  readonly deliveryTimeoutMs?: number;
  /** Where connection errors, gaps and malformed messages are reported. Default: the console. */
  readonly logger?: Logger;
}

/** {@link AdapterStats} plus what only this adapter can see. */
export interface RedisAdapterStats extends AdapterStats {
  /** Messages from the wire that could not be decoded; each was dropped. */
  malformed: number;
}

/** The Redis adapter, with its extra counters. */
export type RedisClusterAdapter = ClusterAdapter & { readonly stats: Readonly<RedisAdapterStats> };

const optionNames = new Set(['url', 'redis', 'prefix', 'requestTimeoutMs', 'deliveryTimeoutMs', 'logger']);
/** Requests whose answer waits for many socket writes: the receiver acknowledges them first. */
const ACKED_OPS: ReadonlySet<NodeRequest['op']> = new Set(['broadcast', 'multicast']);
/** Connection errors repeat on every retry during an outage; one line per connection per this period. */
const ERROR_LOG_INTERVAL_MS = 5000;
/** How long the largest peer count seen stays the answer for `unreached` when Redis is down. */
const PEER_MEMORY_MS = 60_000;
/** Bound on each step of `leave()`, so leaving during an outage does not hang. */
const LEAVE_STEP_MS = 1000;
/** Keeps `<prefix>:node-seq` at or above our id after a Redis restart that lost it, so live ids are not handed out again. */
const RAISE_SEQ_SCRIPT =
  "local v = tonumber(redis.call('GET', KEYS[1]) or '0') if v < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end return 0";

type PendingOne = {
  readonly kind: 'one';
  readonly nodeId: number;
  timer: NodeJS.Timeout;
  /** Called when the node acknowledged: from then on it has `deliveryTimeoutMs`. */
  acked(): void;
  resolve(reply: NodeReply): void;
  reject(error: Error): void;
};
type PendingAll = {
  readonly kind: 'all';
  timer: NodeJS.Timeout;
  readonly replies: NodeReply[];
  readonly from: Set<number>;
  /** Nodes that acknowledged; they get `deliveryTimeoutMs` to reply. */
  readonly acked: Set<number>;
  expected: number | null;
  /** Nodes given up on when the request timeout passed without their ack or reply. */
  givenUp: number;
  resolve(gathered: Gathered): void;
};

/** Creates a Redis pub/sub cluster adapter; options are checked here, Redis is first contacted by `join()`. */
export function redisAdapter(options: RedisAdapterOptions): RedisClusterAdapter {
  const { url, redis, prefix, requestTimeoutMs, deliveryTimeoutMs, logger } = checkOptions(options);
  const allChannel = `${prefix}:all`;
  const seqKey = `${prefix}:node-seq`;
  const nodeChannel = (id: number): string => `${prefix}:node:${id}`;
  const stats: RedisAdapterStats = { published: 0, publishFailed: 0, received: 0, gaps: 0, requestTimeouts: 0, reconnects: 0, malformed: 0 };

  const connect = (own: RedisOptions): Redis => {
    // No auto-pipelining: a publish must be written before publish() returns (call order).
    const merged: RedisOptions = { ...redis, ...own, lazyConnect: true, enableAutoPipelining: false };
    return url === undefined ? new Redis(merged) : new Redis(url, merged);
  };
  // Offline queue on until the first 'ready' (so join's commands wait for the handshake),
  // then off: during an outage a publish fails at once instead of queueing without bound.
  // maxRetriesPerRequest 0 fails in-flight publishes when the socket closes, and nothing
  // is resent after a reconnect, where it would arrive out of order.
  const publisher = connect({ enableOfflineQueue: true, maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false });
  const subscriber = connect({ autoResubscribe: true });

  let state: 'idle' | 'joining' | 'joined' | 'left' = 'idle';
  let nodeId = 0;
  let handler: RequestHandler | null = null;
  let nextRequestId = 1;
  let leaving: Promise<void> | null = null;
  let peers = { count: 0, at: 0 };
  const pending = new Map<number, PendingOne | PendingAll>();
  const numbers = new SendNumbers();
  const lastSeen = new Map<string, number>();
  const heardFrom = new Map<number, number>();

  const warnMalformed = rateLimited(logger, 'Dropped malformed cluster messages');
  const warnReply = rateLimited(logger, 'Could not publish cluster replies');
  for (const [name, conn] of [['publisher', publisher], ['subscriber', subscriber]] as const) {
    const warn = rateLimited(logger, `Redis ${name} connection error`);
    conn.on('error', (error: Error) => warn(error));
    let readyBefore = false;
    conn.on('ready', () => {
      if (readyBefore) {
        stats.reconnects += 1;
        if (conn === publisher && state === 'joined') {
          publisher.eval(RAISE_SEQ_SCRIPT, 1, seqKey, String(nodeId)).catch((error: unknown) => warn(error));
        }
      }
      readyBefore = true;
    });
  }

  function notePeers(count: number): void {
    const now = Date.now();
    if (count >= peers.count || now - peers.at > PEER_MEMORY_MS) peers = { count, at: now };
  }

  /** Other nodes known to exist lately: the largest broadcast audience, or the nodes heard from, if more. */
  function knownPeers(): number {
    const now = Date.now();
    for (const [id, at] of heardFrom) if (now - at > PEER_MEMORY_MS) heardFrom.delete(id);
    return Math.max(now - peers.at > PEER_MEMORY_MS ? 0 : peers.count, heardFrom.size);
  }

  /**
   * Publishes synchronously (the write starts before this returns, which keeps call order).
   * A publish refused while the connection is down takes no sequence number; one that fails
   * in flight may give it back (see {@link SendNumbers}).
   */
  function publish(channel: string, build: (seq: number) => WireMessage): Promise<number> {
    if (publisher.status !== 'ready') {
      stats.publishFailed += 1;
      return Promise.reject(new Error(`Redis connection is ${publisher.status}`));
    }
    const seq = numbers.next(channel);
    return publisher.publish(channel, encodeMessage(build(seq))).then(
      (receivers) => {
        stats.published += 1;
        numbers.succeeded(channel, seq);
        return receivers;
      },
      (error: unknown) => {
        stats.publishFailed += 1;
        numbers.failed(channel, seq);
        throw error;
      },
    );
  }

  /** Adds holes in a sender's numbering to `stats.gaps`. On the all channel the first message only sets the baseline. */
  function checkSequence(from: number, channel: string, seq: number): void {
    const key = `${from} ${channel}`;
    const last = lastSeen.get(key) ?? (channel === allChannel ? undefined : 0);
    lastSeen.set(key, seq);
    // seq <= last: the sender reused numbers of publishes that failed in flight; not a loss.
    if (last === undefined || seq <= last + 1) return;
    const missing = seq - last - 1;
    stats.gaps += missing;
    logger.warn(`${missing} cluster message(s) from node ${from} on ${channel} never arrived (numbers ${last + 1}..${seq - 1})`);
  }

  function onMessage(channelBytes: Buffer, bytes: Buffer): void {
    const answer = handler;
    if (answer === null || state === 'left') return;
    const channel = channelBytes.toString();
    const decoded = decodeMessage(bytes);
    if (!decoded.ok || (decoded.message.kind !== 'req' && channel === allChannel)) {
      stats.malformed += 1;
      warnMalformed(new ClusterError(`Malformed message on ${channel}: ${decoded.ok ? 'a reply on the all channel' : decoded.reason}`));
      return;
    }
    const message = decoded.message;
    if (channel === allChannel && message.from === nodeId) return; // our own broadcast
    stats.received += 1;
    if (message.from !== nodeId) heardFrom.set(message.from, Date.now());
    checkSequence(message.from, channel, message.seq);
    if (message.kind === 'req') onRequest(answer, message);
    else if (message.kind === 'rep') onReply(message);
    else onAck(message.from, message.id);
  }

  function onAck(from: number, id: number): void {
    const entry = pending.get(id);
    if (entry?.kind === 'one' && entry.nodeId === from) entry.acked();
    else if (entry?.kind === 'all') entry.acked.add(from);
  }

  function onRequest(answer: RequestHandler, message: WireRequest): void {
    const failed = (error: unknown): NodeReply => {
      logger.error(`Cluster request ${message.request.op} from node ${message.from} failed`, error);
      const wire = error instanceof WsActorError ? error : new ClusterError(describe(error));
      return { op: 'result', error: { code: wire.code, message: wire.message } };
    };
    if (ACKED_OPS.has(message.request.op)) {
      publish(nodeChannel(message.from), (seq) => ({ kind: 'ack', from: nodeId, seq, id: message.id })).catch((error: unknown) => warnReply(error));
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
        if (state === 'left') return;
        publish(nodeChannel(message.from), (seq) => ({ kind: 'rep', from: nodeId, seq, id: message.id, reply })).catch((error: unknown) => warnReply(error));
      })
      .catch((error: unknown) => warnReply(error));
  }

  function onReply(message: WireReply): void {
    const entry = pending.get(message.id);
    if (entry === undefined) return; // late: the request already timed out
    if (entry.kind === 'one') {
      if (entry.nodeId !== message.from) return;
      settle(message.id)?.resolve(message.reply);
    } else if (!entry.from.has(message.from)) {
      entry.from.add(message.from);
      entry.replies.push(message.reply);
      if (entry.expected !== null && entry.replies.length >= entry.expected) finishAll(message.id);
    }
  }

  function settle(id: number): PendingOne | undefined {
    const entry = pending.get(id);
    if (entry?.kind !== 'one') return undefined;
    pending.delete(id);
    clearTimeout(entry.timer);
    return entry;
  }

  /** Resolves a broadcast with what came; `expected` is unknown (null) when the publish never got its count back. */
  function finishAll(id: number): void {
    const entry = pending.get(id);
    if (entry?.kind !== 'all') return;
    pending.delete(id);
    clearTimeout(entry.timer);
    entry.resolve({ replies: entry.replies, unreached: missing(entry) });
  }

  function missing(entry: PendingAll): number {
    return entry.givenUp + Math.max(0, (entry.expected ?? knownPeers()) - entry.replies.length);
  }

  async function join(requestHandler: RequestHandler): Promise<number> {
    if (state !== 'idle') throw new ClusterError(`join() can be called once, on a new adapter (this one is ${state})`);
    state = 'joining';
    const abort = (what: string, error: unknown): never => {
      if (state === 'joining') state = 'left';
      handler = null;
      publisher.disconnect();
      subscriber.disconnect();
      throw error instanceof ClusterError ? error : new ClusterError(`Cannot join the Redis cluster: ${what} failed: ${describe(error)}`, { cause: error });
    };
    const step = async <T>(what: string, work: () => Promise<T>): Promise<T> => {
      let result: T;
      try {
        result = await work();
      } catch (error) {
        return abort(what, error);
      }
      return state === 'joining' ? result : abort(what, new ClusterError('leave() was called during join()'));
    };
    await step('connecting to Redis', () => Promise.all([publisher.connect(), subscriber.connect()]));
    publisher.options.enableOfflineQueue = false;
    const id = await step(`INCR ${seqKey}`, () => publisher.incr(seqKey));
    if (id > MAX_NODE_ID) abort('taking a node id', new ClusterError(`Node ids are exhausted: ${seqKey} is ${id}, over ${MAX_NODE_ID}`));
    nodeId = id;
    // From here on requests are answered (also while join() finishes), so none is lost.
    handler = requestHandler;
    subscriber.on('messageBuffer', onMessage);
    await step('SUBSCRIBE', () => subscriber.subscribe(nodeChannel(id), allChannel));
    const numsub = await step('PUBSUB NUMSUB', () => publisher.pubsub('NUMSUB', allChannel));
    notePeers(Math.max(0, Number(numsub[1]) - 1));
    state = 'joined';
    return id;
  }

  function request(target: number, req: NodeRequest, payload: Buffer | null): Promise<NodeReply> {
    if (state !== 'joined') return Promise.reject(new NodeUnreachableError(target, `this node has ${state === 'left' ? 'left' : 'not joined'} the cluster`));
    if (!Number.isSafeInteger(target) || target < 1 || target > MAX_NODE_ID) return Promise.reject(new NodeUnreachableError(target, 'not a node id'));
    const id = nextRequestId++;
    return new Promise<NodeReply>((resolve, reject) => {
      const expire = (ms: number): NodeJS.Timeout =>
        afterIo(ms, () => {
          if (settle(id) === undefined) return;
          stats.requestTimeouts += 1;
          reject(new NodeUnreachableError(target, `no reply within ${ms} ms`));
        });
      const entry: PendingOne = {
        kind: 'one',
        nodeId: target,
        timer: expire(requestTimeoutMs),
        acked() {
          clearTimeout(entry.timer);
          entry.timer = expire(deliveryTimeoutMs);
        },
        resolve,
        reject,
      };
      pending.set(id, entry);
      publish(nodeChannel(target), (seq) => ({ kind: 'req', from: nodeId, seq, id, request: req, payload })).then(
        (receivers) => {
          if (receivers === 0) settle(id)?.reject(new NodeUnreachableError(target, 'no such node'));
        },
        (error: unknown) => settle(id)?.reject(new NodeUnreachableError(target, `publish failed: ${describe(error)}`, { cause: error })),
      );
    });
  }

  function requestAll(req: NodeRequest, payload: Buffer | null): Promise<Gathered> {
    if (state !== 'joined') return Promise.resolve({ replies: [], unreached: 0 });
    const id = nextRequestId++;
    return new Promise<Gathered>((resolve) => {
      // Phase 1 (requestTimeoutMs): every node answers or acknowledges. Phase 2
      // (deliveryTimeoutMs): nodes that acknowledged finish their writes and answer.
      const lastCall = (): void => {
        if (pending.get(id) !== entry) return;
        stats.requestTimeouts += missing(entry);
        finishAll(id);
      };
      const firstCall = (): void => {
        if (pending.get(id) !== entry) return;
        const busy = [...entry.acked].filter((node) => !entry.from.has(node)).length;
        if (busy === 0) return lastCall();
        const silent = Math.max(0, (entry.expected ?? knownPeers()) - entry.replies.length - busy);
        stats.requestTimeouts += silent;
        entry.givenUp = silent;
        entry.expected = entry.replies.length + busy;
        entry.timer = afterIo(Math.max(1, deliveryTimeoutMs - requestTimeoutMs), lastCall);
      };
      const entry: PendingAll = {
        kind: 'all',
        timer: afterIo(requestTimeoutMs, firstCall),
        replies: [],
        from: new Set(),
        acked: new Set(),
        expected: null,
        givenUp: 0,
        resolve,
      };
      pending.set(id, entry);
      publish(allChannel, (seq) => ({ kind: 'req', from: nodeId, seq, id, request: req, payload })).then(
        (receivers) => {
          // Our own subscriber is one of the receivers, unless it is reconnecting (then no reply can reach us anyway).
          const audience = Math.max(0, receivers - (subscriber.status === 'ready' ? 1 : 0));
          notePeers(audience);
          if (pending.get(id) !== entry || entry.givenUp > 0) return; // the count came after the request timeout
          entry.expected = audience;
          if (entry.replies.length >= entry.expected) finishAll(id);
        },
        () => finishAll(id), // Redis is down: no replies, and every peer we knew of is unreached
      );
    });
  }

  function leave(): Promise<void> {
    leaving ??= (async () => {
      state = 'left';
      for (const [id, entry] of pending) {
        if (entry.kind === 'one') settle(id)?.reject(new NodeUnreachableError(entry.nodeId, 'this node left the cluster'));
        else finishAll(id);
      }
      subscriber.removeListener('messageBuffer', onMessage);
      if (subscriber.status === 'ready') await within(subscriber.unsubscribe(), LEAVE_STEP_MS);
      await Promise.all([close(publisher), close(subscriber)]);
    })();
    return leaving;
  }

  return { join, request, requestAll, leave, stats };
}

/**
 * `setTimeout`, but the callback runs only after the I/O that arrived meanwhile was read.
 * A node busy in a long write loop (its own share of a broadcast) fires expired timers
 * before it reads the acks and replies waiting on its socket; they must count first.
 */
function afterIo(ms: number, callback: () => void): NodeJS.Timeout {
  return setTimeout(() => setImmediate(callback), ms);
}

async function close(conn: Redis): Promise<void> {
  if (conn.status === 'ready') await within(conn.quit(), LEAVE_STEP_MS);
  conn.disconnect(); // also stops a reconnect loop (QUIT is refused while the connection is down)
}

/** Waits for `work` at most `ms`; its failure is ignored (used only while shutting down). */
async function within(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work.catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** One log line per interval; the next line says how many were left out. */
function rateLimited(logger: Logger, message: string): (error: unknown) => void {
  let lastAt = -Infinity;
  let skipped = 0;
  return (error) => {
    const now = Date.now();
    if (now - lastAt < ERROR_LOG_INTERVAL_MS) {
      skipped += 1;
      return;
    }
    logger.warn(skipped === 0 ? message : `${message} (${skipped} more since the last report)`, error);
    lastAt = now;
    skipped = 0;
  };
}

function checkOptions(options: RedisAdapterOptions): Required<Omit<RedisAdapterOptions, 'url' | 'redis'>> & Pick<RedisAdapterOptions, 'url' | 'redis'> {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('redisAdapter options must be an object');
  for (const key of Object.keys(options)) {
    if (!optionNames.has(key)) throw new InvalidOptionError(`Unknown redisAdapter option "${key}"`);
  }
  const { url, redis, prefix = 'wsactor', requestTimeoutMs = 5000, deliveryTimeoutMs = 60_000, logger = consoleLogger } = options;
  if (url !== undefined && redis !== undefined) throw new InvalidOptionError('redisAdapter: give "url" or "redis", not both');
  if (url !== undefined && (typeof url !== 'string' || !/^rediss?:\/\/./.test(url))) {
    throw new InvalidOptionError(`redisAdapter option "url" must be a redis:// or rediss:// URL, got ${String(url)}`);
  }
  if (redis !== undefined && (typeof redis !== 'object' || redis === null)) throw new InvalidOptionError('redisAdapter option "redis" must be an ioredis options object');
  if (typeof prefix !== 'string' || !/^[^\s*?[\]]+$/.test(prefix)) {
    throw new InvalidOptionError(`redisAdapter option "prefix" must be a non-empty string without spaces or glob characters, got ${String(prefix)}`);
  }
  if (!Number.isSafeInteger(requestTimeoutMs) || requestTimeoutMs < 1 || requestTimeoutMs > 2 ** 31 - 1) {
    throw new InvalidOptionError(`redisAdapter option "requestTimeoutMs" must be a positive integer of milliseconds, got ${String(requestTimeoutMs)}`);
  }
  if (!Number.isSafeInteger(deliveryTimeoutMs) || deliveryTimeoutMs < requestTimeoutMs || deliveryTimeoutMs > 2 ** 31 - 1) {
    throw new InvalidOptionError(`redisAdapter option "deliveryTimeoutMs" must be an integer of milliseconds >= requestTimeoutMs, got ${String(deliveryTimeoutMs)}`);
  }
  if (typeof logger !== 'object' || logger === null || typeof logger.error !== 'function' || typeof logger.warn !== 'function') {
    throw new InvalidOptionError('redisAdapter option "logger" must have error() and warn() methods');
  }
  return { url, redis, prefix, requestTimeoutMs, deliveryTimeoutMs, logger };
}
