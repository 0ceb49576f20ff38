/**
 * The adapter's two Redis connections (one publishes, one subscribes) and the only module
 * that touches ioredis: it builds the clients, logs their errors without flooding, counts
 * reconnects, runs the few Redis commands the adapter needs and closes both within bounds.
 *
 * What this module relies on in ioredis 5, all of it public API (no private fields, and no
 * option is changed on a live client: each is given at construction):
 * - `lazyConnect`: Redis is first contacted by `connect()` (from `join()`), not by `redisAdapter()`.
 * - `enableAutoPipelining: false`: a command on a `ready` connection is written to the socket
 *   before the call returns, so call order is wire order (the adapter's ordering guarantee;
 *   test/cluster/redis-adapter.test.ts "keeps send order" checks it).
 * - Publisher `enableOfflineQueue: false`: during an outage a publish fails at once instead of
 *   queueing without bound. The handshake (AUTH, SELECT, the INFO ready check, CLIENT) is
 *   written without the offline queue, and `connect()` resolves at `ready`, before the
 *   adapter's first command (test/cluster/redis-parts.test.ts "connects through a URL with a
 *   db" and "publishes fail at once" check both).
 * - Publisher `maxRetriesPerRequest: 0` and `autoResendUnfulfilledCommands: false`: in-flight
 *   publishes fail when the socket closes, and nothing is resent after a reconnect, where it
 *   would arrive after newer messages.
 * - Subscriber `autoResubscribe` (the default, set explicitly): channels come back after a reconnect.
 * - `status` (`'ready'` means commands are written at once), the `ready` event (again after
 *   every reconnect), `error` events (one per failed attempt) and `messageBuffer` events.
 */
import { Redis, type RedisOptions } from '../../optional/ioredis.js'; // ioredis, loaded at the first `new Redis`
import type { Logger } from '../../runtime/logger.js';
import type { AdapterStats } from '../adapter.js';
import { rateLimited } from './throttled-log.js';

export type ConnectionName = 'publisher' | 'subscriber';

export interface ConnectionsOptions {
  /** A `redis://` URL; without it, `redis` alone says where Redis is. */
  readonly url?: string;
  /** The user's ioredis options; the options listed at the top of this file override them. */
  readonly redis?: RedisOptions;
  readonly logger: Logger;
  /** Where reconnects are counted (the adapter's live stats). */
  readonly stats: Pick<AdapterStats, 'reconnects'>;
  /** Called each time a connection is ready again after it was lost (not on its first `ready`). */
  readonly onReconnect?: (which: ConnectionName) => void;
  /** Clock of the error-log throttle (a test passes a fake one). */
  readonly now?: () => number;
}

/** Bound on each step of `close()`, so leaving during an outage does not hang. */
export const CLOSE_STEP_MS = 1000;
/** Keeps a counter at or above a value (node-seq after a Redis restart that lost it, so live ids are not handed out again). */
const RAISE_SCRIPT =
  "local v = tonumber(redis.call('GET', KEYS[1]) or '0') if v < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end return 0";

export class RedisConnections {
  readonly #publisher: Redis;
  readonly #subscriber: Redis;
  readonly #warnPublisher: (error: unknown) => void;
  #onMessage: ((channel: Buffer, message: Buffer) => void) | null = null;

  constructor(options: ConnectionsOptions) {
    const { url, redis, logger, stats, onReconnect, now = Date.now } = options;
    const create = (own: RedisOptions): Redis => {
      const merged: RedisOptions = { ...redis, ...own, lazyConnect: true, enableAutoPipelining: false };
      return url === undefined ? new Redis(merged) : new Redis(url, merged);
    };
    this.#publisher = create({ enableOfflineQueue: false, maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false });
    this.#subscriber = create({ autoResubscribe: true });
    this.#warnPublisher = rateLimited(logger, 'Redis publisher connection error', now);
    const watch = (name: ConnectionName, conn: Redis, warn: (error: unknown) => void): void => {
      conn.on('error', (error: Error) => warn(error));
      let readyBefore = false;
      conn.on('ready', () => {
        if (readyBefore) {
          stats.reconnects += 1;
          onReconnect?.(name);
        }
        readyBefore = true;
      });
    };
    watch('publisher', this.#publisher, this.#warnPublisher);
    watch('subscriber', this.#subscriber, rateLimited(logger, 'Redis subscriber connection error', now));
  }

  /** Connects both; resolves once both are ready, rejects if either cannot connect. */
  async connect(): Promise<void> {
    await Promise.all([this.#publisher.connect(), this.#subscriber.connect()]);
  }

  /** The publisher's ioredis status; only `'ready'` takes publishes. */
  get publisherStatus(): string {
    return this.#publisher.status;
  }

  /** Whether the subscriber is connected (then it is one of the receivers of our own broadcasts). */
  get subscriberReady(): boolean {
    return this.#subscriber.status === 'ready';
  }

  /** PUBLISH; the write starts before this returns. Resolves with the number of receivers. */
  publish(channel: string, bytes: Buffer): Promise<number> {
    return this.#publisher.publish(channel, bytes);
  }

  /** INCR: resolves with the new value. */
  increment(key: string): Promise<number> {
    return this.#publisher.incr(key);
  }

  /** Raises `key` to at least `value` (never lowers it); a failure is logged as a publisher error. */
  raiseAtLeast(key: string, value: number): void {
    this.#publisher.eval(RAISE_SCRIPT, 1, key, String(value)).catch((error: unknown) => this.#warnPublisher(error));
  }

  /** Hands every message of the subscribed channels to `onMessage`, then subscribes to `channels`. */
  async subscribe(onMessage: (channel: Buffer, message: Buffer) => void, ...channels: string[]): Promise<void> {
    this.#onMessage = onMessage;
    this.#subscriber.on('messageBuffer', onMessage);
    await this.#subscriber.subscribe(...channels);
  }

  /** PUBSUB NUMSUB of one channel. */
  async countSubscribers(channel: string): Promise<number> {
    const numsub = await this.#publisher.pubsub('NUMSUB', channel);
    return Number(numsub[1]);
  }

  /** Drops both connections at once and stops reconnecting (a failed join). */
  disconnect(): void {
    this.#publisher.disconnect();
    this.#subscriber.disconnect();
  }

  /** Stops delivering messages, unsubscribes and quits, each step bounded by {@link CLOSE_STEP_MS}; never rejects. */
  async close(): Promise<void> {
    if (this.#onMessage !== null) this.#subscriber.removeListener('messageBuffer', this.#onMessage);
    if (this.#subscriber.status === 'ready') await within(this.#subscriber.unsubscribe(), CLOSE_STEP_MS);
    await Promise.all([quit(this.#publisher), quit(this.#subscriber)]);
  }
}

async function quit(conn: Redis): Promise<void> {
  if (conn.status === 'ready') await within(conn.quit(), CLOSE_STEP_MS);
  conn.disconnect(); // also stops a reconnect loop (QUIT is refused while the connection is down)
}

/** Waits for `work` at most `ms`; its failure is ignored (used only while shutting down). */
async function within(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work.catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
