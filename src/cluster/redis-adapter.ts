/**
 * A {@link ClusterAdapter} over Redis pub/sub, for servers in several processes or hosts.
 *
 * Each node subscribes to its own channel (`<prefix>:node:<id>`) and to `<prefix>:all`.
 * Every publish goes through one publisher connection in call order, and Redis keeps the
 * order of one connection's commands, so what node A sends to node B arrives in send
 * order across both channels. Pub/sub is at-most-once: a message published while the
 * receiver's subscriber is reconnecting is lost. Senders number their messages per
 * channel so receivers count such losses in `stats.gaps` instead of missing them silently.
 *
 * The parts, in src/cluster/redis/: `connections.ts` (the two Redis connections: the only
 * module that uses ioredis), `sequence.ts` (numbering and gap counting), `pending.ts` (the
 * request/reply table and its timeouts), `peers.ts` (how many nodes exist, when Redis cannot
 * say), `throttled-log.ts`, and `node.ts`, which joins them into one cluster node.
 */
import type { RedisOptions } from 'ioredis';
import { InvalidOptionError } from '../errors.js';
import { consoleLogger, type Logger } from '../runtime/logger.js';
import type { AdapterStats, ClusterAdapter } from './adapter.js';
import { RedisNode } from './redis/node.js';

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

/** Creates a Redis pub/sub cluster adapter; options are checked here, Redis is first contacted by `join()`. */
export function redisAdapter(options: RedisAdapterOptions): RedisClusterAdapter {
  const node = new RedisNode(checkOptions(options));
  // Plain functions, as before the split: callers may pass them around without their object.
  return {
    join: (handler) => node.join(handler),
    request: (nodeId, request, payload) => node.request(nodeId, request, payload),
    requestAll: (request, payload) => node.requestAll(request, payload),
    leave: () => node.leave(),
    stats: node.stats,
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
