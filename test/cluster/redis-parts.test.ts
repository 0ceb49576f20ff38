/**
 * The parts of the Redis adapter (src/cluster/redis/), each on its own: the throttled error
 * log, sequence numbering and gap counting, the peer estimate and the request/reply table
 * on a fake clock, and the connection manager against a real redis-server
 * (test/helpers/redis-server.ts). The adapter as a whole is tested in redis-adapter.test.ts.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AdapterStats, NodeReply } from '../../src/cluster/adapter.js';
import { CLOSE_STEP_MS, RedisConnections, type ConnectionName } from '../../src/cluster/redis/connections.js';
import { PEER_MEMORY_MS, PeerMemory } from '../../src/cluster/redis/peers.js';
import { PendingRequests } from '../../src/cluster/redis/pending.js';
import { GapCounter, NumberedPublisher, SendNumbers, type PublishTarget } from '../../src/cluster/redis/sequence.js';
import { ERROR_LOG_INTERVAL_MS, rateLimited } from '../../src/cluster/redis/throttled-log.js';
import { decodeMessage } from '../../src/cluster/wire.js';
import { ErrorCodes } from '../../src/errors.js';
import type { Logger } from '../../src/runtime/logger.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';

interface Logged {
  readonly logger: Logger;
  readonly lines: { message: string; error: unknown }[];
}

function logged(): Logged {
  const lines: Logged['lines'] = [];
  const push = (message: string, error?: unknown): void => void lines.push({ message, error });
  return { logger: { error: push, warn: push }, lines };
}

function fakeClock(): { now: () => number; advance(ms: number): void } {
  let at = 1_000_000;
  return { now: () => at, advance: (ms) => void (at += ms) };
}

async function waitFor(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('throttled log', () => {
  it('logs the first error, drops repeats within the interval, then says how many it dropped', () => {
    const { logger, lines } = logged();
    const clock = fakeClock();
    const warn = rateLimited(logger, 'Redis publisher connection error', clock.now);
    const first = new Error('ECONNREFUSED');
    warn(first);
    for (let i = 0; i < 5; i += 1) {
      clock.advance(ERROR_LOG_INTERVAL_MS / 10);
      warn(new Error('again'));
    }
    expect(lines).toEqual([{ message: 'Redis publisher connection error', error: first }]);
    clock.advance(ERROR_LOG_INTERVAL_MS);
    const later = new Error('later');
    warn(later);
    expect(lines[1]).toEqual({ message: 'Redis publisher connection error (5 more since the last report)', error: later });
    clock.advance(ERROR_LOG_INTERVAL_MS);
    warn(later);
    expect(lines[2]?.message).toBe('Redis publisher connection error'); // nothing dropped since the last line
  });
});

describe('sequence numbers and gaps', () => {
  it('gives back numbers of publishes that failed after the last success', () => {
    const numbers = new SendNumbers();
    const [one, two, three, four] = [1, 2, 3, 4].map(() => numbers.next('c'));
    numbers.succeeded('c', one ?? 0);
    for (const seq of [two, three, four]) numbers.failed('c', seq ?? 0); // a dropped connection fails them in order
    expect(numbers.next('c')).toBe(2);
    expect(numbers.next('other')).toBe(1);
    numbers.failed('c', 2);
    const [again, later] = [numbers.next('c'), numbers.next('c')];
    numbers.failed('c', again);
    numbers.succeeded('c', later);
    expect(numbers.next('c')).toBe(4); // 2 stays a hole: 3 went out after it
  });

  /** A connection whose publishes the test settles by hand. */
  function fakeTarget(): PublishTarget & { publisherStatus: string; sent: { channel: string; seq: number; settle(receivers: number | Error): void }[] } {
    const sent: { channel: string; seq: number; settle(receivers: number | Error): void }[] = [];
    return {
      publisherStatus: 'ready',
      sent,
      publish(channel, bytes) {
        const decoded = decodeMessage(bytes);
        if (!decoded.ok) throw new Error(decoded.reason);
        return new Promise<number>((resolve, reject) => {
          sent.push({ channel, seq: decoded.message.seq, settle: (r) => (r instanceof Error ? reject(r) : resolve(r)) });
        });
      },
    };
  }

  it('numbers publishes per channel; a refused publish takes no number, one failed in flight gives it back', async () => {
    const target = fakeTarget();
    const stats = { published: 0, publishFailed: 0 };
    const publisher = new NumberedPublisher(target, stats);
    const ack = (seq: number) => ({ kind: 'ack', from: 1, seq, id: 1 }) as const;

    const first = publisher.publish('a', ack);
    const other = publisher.publish('b', ack);
    target.sent[0]?.settle(2);
    target.sent[1]?.settle(1);
    await expect(first).resolves.toBe(2);
    await expect(other).resolves.toBe(1);
    expect(target.sent.map((s) => [s.channel, s.seq])).toEqual([['a', 1], ['b', 1]]);

    target.publisherStatus = 'reconnecting';
    await expect(publisher.publish('a', ack)).rejects.toThrow('Redis connection is reconnecting');
    expect(target.sent).toHaveLength(2); // refused before it was numbered or written

    target.publisherStatus = 'ready';
    const lost = publisher.publish('a', ack);
    target.sent[2]?.settle(new Error('Connection is closed.'));
    await expect(lost).rejects.toThrow('Connection is closed.');
    const next = publisher.publish('a', ack);
    target.sent[3]?.settle(1);
    await next;
    expect(target.sent.map((s) => s.seq)).toEqual([1, 1, 2, 2]); // 2 failed in flight and was given back
    expect(stats).toEqual({ published: 3, publishFailed: 2 });
  });

  it('counts holes per sender and channel; the all channel baseline is its first message', () => {
    const { logger, lines } = logged();
    const stats = { gaps: 0 };
    const gaps = new GapCounter('p:all', stats, logger);
    gaps.check(2, 'p:node:1', 1);
    gaps.check(2, 'p:node:1', 2);
    expect(stats.gaps).toBe(0);
    gaps.check(2, 'p:node:1', 5); // 3 and 4 lost
    expect(stats.gaps).toBe(2);
    expect(lines.map((l) => l.message)).toEqual(['2 cluster message(s) from node 2 on p:node:1 never arrived (numbers 3..4)']);
    gaps.check(3, 'p:node:1', 2); // another sender: its numbers on our node channel start at 1
    expect(stats.gaps).toBe(3);
    gaps.check(2, 'p:all', 40); // broadcasts from before we joined are not ours to miss
    gaps.check(2, 'p:all', 41);
    expect(stats.gaps).toBe(3);
    gaps.check(2, 'p:all', 43);
    expect(stats.gaps).toBe(4);
    gaps.check(2, 'p:node:1', 5); // a number given back after failures, reused: not a loss
    gaps.check(2, 'p:node:1', 6);
    expect(stats.gaps).toBe(4);
  });
});

describe('peer memory', () => {
  it('remembers the largest audience and the nodes heard from, for PEER_MEMORY_MS', () => {
    const clock = fakeClock();
    const peers = new PeerMemory(clock.now);
    expect(peers.known()).toBe(0);
    peers.noteAudience(3);
    clock.advance(1000);
    peers.noteAudience(1); // smaller and the larger one is recent: kept
    expect(peers.known()).toBe(3);
    clock.advance(PEER_MEMORY_MS);
    expect(peers.known()).toBe(0); // forgotten
    peers.noteAudience(1);
    expect(peers.known()).toBe(1);
    for (const id of [4, 5, 6]) peers.heardFrom(id);
    expect(peers.known()).toBe(3); // more heard from than the audience says
    clock.advance(PEER_MEMORY_MS / 2);
    peers.heardFrom(5);
    clock.advance(PEER_MEMORY_MS / 2 + 1);
    expect(peers.known()).toBe(1); // only node 5 was heard from lately; the audience of 1 is old too
  });
});

describe('request/reply table', () => {
  const timeouts = { requestTimeoutMs: 100, deliveryTimeoutMs: 1000 };
  let stats: Pick<AdapterStats, 'requestTimeouts'>;
  let peers: PeerMemory;
  let table: PendingRequests;
  let start = 0;
  const result: NodeReply = { op: 'result', error: null };
  const clients = (id: number): NodeReply => ({ op: 'clients', clientIds: [id] });

  beforeEach(() => {
    vi.useFakeTimers();
    start = Date.now();
    stats = { requestTimeouts: 0 };
    peers = new PeerMemory();
    table = new PendingRequests(timeouts, stats, peers);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /**
   * Moves the fake clock to `ms` after the test began. An expired timeout runs its callback
   * in an immediate (after the I/O already waiting); fake timers run an immediate queued by
   * a timer 1 ms later, so a timeout of 100 ms acts at 101.
   */
  function at(ms: number): void {
    vi.advanceTimersByTime(start + ms - Date.now());
  }

  /** Follows a promise from the start (so a rejection is never unhandled); `result` is 'pending' until it settles. */
  function watch<T>(promise: Promise<T>): { result: T | Error | 'pending' } {
    const seen: { result: T | Error | 'pending' } = { result: 'pending' };
    promise.then(
      (value) => void (seen.result = value),
      (error: Error) => void (seen.result = error),
    );
    return seen;
  }

  /** Lets settled promises run their reactions (under fake timers only microtasks run by themselves). */
  async function ticks(): Promise<void> {
    for (let i = 0; i < 5; i += 1) await Promise.resolve();
  }

  it('a request to one node settles with the reply of that node only', async () => {
    const { id, reply } = table.one(2);
    const seen = watch(reply);
    table.reply(3, id, clients(3)); // another node: ignored
    await ticks();
    expect(seen.result).toBe('pending');
    table.reply(2, id, clients(2));
    await expect(reply).resolves.toEqual(clients(2));
    table.reply(2, id, result); // a second reply: ignored
    at(2000);
    expect(stats.requestTimeouts).toBe(0);
  });

  it('fails a request to one node after requestTimeoutMs, counts it, and ignores a late reply', async () => {
    const { id, reply } = table.one(2);
    const seen = watch(reply);
    at(99);
    await ticks();
    expect(seen.result).toBe('pending');
    at(101);
    await expect(reply).rejects.toMatchObject({ code: ErrorCodes.NODE_UNREACHABLE, message: 'Node 2 unreachable: no reply within 100 ms' });
    expect(stats.requestTimeouts).toBe(1);
    table.reply(2, id, result);
    expect(stats.requestTimeouts).toBe(1);
  });

  it('a reply read in the turn its timeout expired still counts (the timeout waits for pending I/O)', async () => {
    const { id, reply } = table.one(2);
    at(100); // the timer fired; its callback waits for an immediate
    table.reply(2, id, result); // the I/O that was already waiting
    at(101);
    await expect(reply).resolves.toEqual(result);
    expect(stats.requestTimeouts).toBe(0);
  });

  it("the target's ack gives it deliveryTimeoutMs from then on; another node's ack does not", async () => {
    const acked = table.one(2);
    const other = table.one(2);
    const seen = watch(acked.reply);
    watch(other.reply);
    at(50);
    table.ack(2, acked.id); // now due at 50 + 1000
    table.ack(3, other.id);
    at(101);
    await expect(other.reply).rejects.toMatchObject({ message: 'Node 2 unreachable: no reply within 100 ms' });
    at(1050);
    await ticks();
    expect(seen.result).toBe('pending');
    at(1051);
    await expect(acked.reply).rejects.toMatchObject({ message: 'Node 2 unreachable: no reply within 1000 ms' });
    expect(stats.requestTimeouts).toBe(2);
  });

  it('rejectOne fails a request at once and cancels its timeout', async () => {
    const { id, reply } = table.one(2);
    watch(reply);
    const error = new Error('publish failed');
    table.rejectOne(id, error);
    await expect(reply).rejects.toBe(error);
    at(2000);
    expect(stats.requestTimeouts).toBe(0);
  });

  it('a request to all completes once every node it reached replied, each node counted once', async () => {
    const early = table.all();
    table.reply(2, early.id, clients(2)); // before the publish reported its count
    table.reached(early.id, 1);
    await expect(early.gathered).resolves.toEqual({ replies: [clients(2)], unreached: 0 });

    const { id, gathered } = table.all();
    const seen = watch(gathered);
    table.reached(id, 2);
    table.reply(2, id, clients(2));
    table.reply(2, id, clients(2));
    await ticks();
    expect(seen.result).toBe('pending');
    table.reply(3, id, clients(3));
    await expect(gathered).resolves.toEqual({ replies: [clients(2), clients(3)], unreached: 0 });
    expect(peers.known()).toBe(2); // the audience is remembered
    at(2000);
    expect(stats.requestTimeouts).toBe(0);
  });

  it('without acks, a request to all ends after requestTimeoutMs; the silent nodes are unreached', async () => {
    const { id, gathered } = table.all();
    table.reached(id, 3);
    table.reply(2, id, clients(2));
    at(101);
    await expect(gathered).resolves.toEqual({ replies: [clients(2)], unreached: 2 });
    expect(stats.requestTimeouts).toBe(2);
  });

  it('nodes that acked get until deliveryTimeoutMs; silent ones are given up at requestTimeoutMs and a late count is ignored', async () => {
    const { id, gathered } = table.all();
    const seen = watch(gathered);
    table.reached(id, 4);
    table.ack(2, id);
    table.ack(3, id);
    table.reply(4, id, clients(4));
    at(101); // node 5 neither acked nor replied: given up; 2 and 3 get until 101 + (1000 - 100)
    expect(stats.requestTimeouts).toBe(1);
    table.reached(id, 10); // too late to change who is waited for
    table.reply(2, id, clients(2));
    at(1001);
    await ticks();
    expect(seen.result).toBe('pending');
    at(1002); // node 3 acked and never replied
    await expect(gathered).resolves.toEqual({ replies: [clients(4), clients(2)], unreached: 2 });
    // Not asserted: stats.requestTimeouts is now 3, node 5 counted again at the end (a
    // double count kept as it was when the adapter was split; see PendingRequests #lastCall).
  });

  it('a request to all whose publish failed ends at once, with the known peers unreached', async () => {
    peers.noteAudience(4);
    const { id, gathered } = table.all();
    table.finishAll(id);
    await expect(gathered).resolves.toEqual({ replies: [], unreached: 4 });
    at(2000);
    expect(stats.requestTimeouts).toBe(0); // failed, not timed out
  });

  it('closeAll fails requests to one node and resolves requests to all with what came', async () => {
    const one = table.one(7);
    watch(one.reply);
    const all = table.all();
    table.reached(all.id, 2);
    table.reply(2, all.id, clients(2));
    table.closeAll();
    await expect(one.reply).rejects.toMatchObject({ code: ErrorCodes.NODE_UNREACHABLE, message: 'Node 7 unreachable: this node left the cluster' });
    await expect(all.gathered).resolves.toEqual({ replies: [clients(2)], unreached: 1 });
    at(2000);
    expect(stats.requestTimeouts).toBe(0);
  });
});

describe('Redis connections', () => {
  let redis: TestRedis;
  let admin: Redis;
  const open: RedisConnections[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    admin = new Redis(redis.port, '127.0.0.1');
  });
  afterAll(async () => {
    admin.disconnect();
    await redis.stop();
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  });

  function connections(options: Partial<ConstructorParameters<typeof RedisConnections>[0]> = {}): {
    connections: RedisConnections;
    stats: Pick<AdapterStats, 'reconnects'>;
    came: ConnectionName[];
    lines: Logged['lines'];
  } {
    const stats = { reconnects: 0 };
    const came: ConnectionName[] = [];
    const { logger, lines } = logged();
    const made = new RedisConnections({ url: redis.url, logger, stats, onReconnect: (which) => void came.push(which), ...options });
    open.push(made);
    return { connections: made, stats, came, lines };
  }

  it('connects through a URL with a db: the handshake (SELECT, ready check) works without an offline queue', async () => {
    const { connections: conns } = connections({ url: `${redis.url}/3` });
    await conns.connect();
    expect(conns.publisherStatus).toBe('ready');
    expect(await conns.increment('parts:db')).toBe(1);
    const db3 = new Redis(`${redis.url}/3`);
    try {
      expect(await db3.get('parts:db')).toBe('1'); // SELECT 3 ran in the handshake
    } finally {
      db3.disconnect();
    }
    expect(await admin.get('parts:db')).toBeNull();
  });

  it('delivers subscribed messages as Buffers and counts subscribers', async () => {
    const { connections: conns } = connections();
    await conns.connect();
    const got: [string, Buffer][] = [];
    await conns.subscribe((channel, message) => void got.push([channel.toString(), message]), 'parts:a', 'parts:b');
    expect(await conns.countSubscribers('parts:a')).toBe(1);
    expect(await conns.publish('parts:b', Buffer.from([0, 255]))).toBe(1);
    await waitFor(() => got.length === 1, 'the message');
    expect(got).toEqual([['parts:b', Buffer.from([0, 255])]]);
  });

  it('raiseAtLeast raises a counter and never lowers it', async () => {
    const { connections: conns } = connections();
    await conns.connect();
    await admin.set('parts:seq', '2');
    conns.raiseAtLeast('parts:seq', 5);
    await waitFor(async () => (await admin.get('parts:seq')) === '5', 'raised to 5');
    conns.raiseAtLeast('parts:seq', 3);
    conns.raiseAtLeast('parts:other', 1); // a missing key counts as 0
    await waitFor(async () => (await admin.get('parts:other')) === '1', 'parts:other set');
    expect(await admin.get('parts:seq')).toBe('5');
  });

  it('counts each connection that came back (not the first connect) and resubscribes', async () => {
    const { connections: conns, stats, came } = connections();
    await conns.connect();
    await conns.subscribe(() => undefined, 'parts:resub');
    expect(stats.reconnects).toBe(0);
    await admin.client('KILL', 'TYPE', 'pubsub');
    await waitFor(() => stats.reconnects === 1, 'the subscriber to reconnect');
    expect(came).toEqual(['subscriber']);
    await waitFor(async () => (await conns.countSubscribers('parts:resub')) === 1, 'resubscription');
    await admin.client('KILL', 'TYPE', 'normal'); // the publisher (and the admin's own connection is spared)
    await waitFor(() => stats.reconnects === 2, 'the publisher to reconnect');
    expect(came).toEqual(['subscriber', 'publisher']);
  });

  describe('during an outage', () => {
    let own: TestRedis;
    beforeAll(async () => {
      own = await startRedis();
    });
    afterAll(async () => {
      await own.stop();
    });

    it('publishes fail at once, each connection logs one error line per interval, and both reconnects are counted', async () => {
      const clock = fakeClock();
      // Retry every 20 ms, so many connection errors happen within the test.
      const { connections: conns, stats, came, lines } = connections({ url: undefined, redis: { host: '127.0.0.1', port: own.port, retryStrategy: () => 20 }, now: clock.now });
      await conns.connect();
      await own.stop();
      await waitFor(() => conns.publisherStatus !== 'ready', 'the publisher to notice');
      const started = Date.now();
      await expect(conns.publish('parts:x', Buffer.from('x'))).rejects.toThrow(/enableOfflineQueue/); // no queueing
      expect(Date.now() - started).toBeLessThan(100);

      const errorLines = (name: string): string[] => lines.map((l) => l.message).filter((m) => m.startsWith(`Redis ${name} connection error`));
      await waitFor(() => errorLines('publisher').length === 1 && errorLines('subscriber').length === 1, 'the first error lines');
      await new Promise((resolve) => setTimeout(resolve, 300)); // about 15 more retries each
      expect(errorLines('publisher')).toEqual(['Redis publisher connection error']);
      expect(errorLines('subscriber')).toEqual(['Redis subscriber connection error']);
      clock.advance(ERROR_LOG_INTERVAL_MS);
      await waitFor(() => errorLines('publisher').length === 2, 'the next publisher line');
      expect(errorLines('publisher')[1]).toMatch(/^Redis publisher connection error \(\d+ more since the last report\)$/);

      await own.restart();
      await waitFor(() => stats.reconnects === 2, 'both connections to come back', 10_000);
      expect([...came].sort()).toEqual(['publisher', 'subscriber']);
      expect(await conns.publish('parts:x', Buffer.from('x'))).toBe(0);
    });

    it('close() during an outage ends within its bounds and stops reconnecting', async () => {
      const clock = fakeClock();
      const { connections: conns, lines } = connections({ url: undefined, redis: { host: '127.0.0.1', port: own.port, retryStrategy: () => 20 }, now: clock.now });
      await conns.connect();
      await own.stop();
      await waitFor(() => conns.publisherStatus !== 'ready', 'the publisher to notice');
      const started = Date.now();
      await conns.close();
      expect(Date.now() - started).toBeLessThan(2 * CLOSE_STEP_MS);
      clock.advance(ERROR_LOG_INTERVAL_MS); // so the next connection error would be logged
      const before = lines.length;
      await new Promise((resolve) => setTimeout(resolve, 200)); // 10 retry periods
      expect(lines.length).toBe(before); // no attempt failed: none was made
      await own.restart();
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(conns.publisherStatus).not.toBe('ready'); // nor did one succeed
      expect(conns.subscriberReady).toBe(false);
    });
  });
});
