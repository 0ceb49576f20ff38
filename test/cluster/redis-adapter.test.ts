/**
 * The Redis pub/sub adapter against a real redis-server (test/helpers/redis-server.ts):
 * ids, round trips with binary payloads, broadcast gathering, ordering across the node and
 * all channels, gap counting, malformed input, and a Redis outage and restart.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { NodeReply, NodeRequest, RequestHandler } from '../../src/cluster/adapter.js';
import { redisAdapter, type RedisAdapterOptions, type RedisClusterAdapter } from '../../src/cluster/redis-adapter.js';
import { decodeMessage, encodeMessage, type WireMessage } from '../../src/cluster/wire.js';
import { ErrorCodes } from '../../src/errors.js';
import type { Logger } from '../../src/runtime/logger.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';

const RESPONDER = fileURLToPath(new URL('./fixtures/redis-responder.ts', import.meta.url));

interface Node {
  readonly adapter: RedisClusterAdapter;
  readonly id: number;
  /** Every request this node answered, in arrival order. */
  readonly got: { request: NodeRequest; payload: Buffer | null }[];
  readonly warnings: string[];
}

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
let redis: TestRedis;
let admin: Redis;
let prefixCounter = 0;
let prefix = '';
const live: RedisClusterAdapter[] = [];

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  redis = await startRedis();
  admin = new Redis(redis.port, '127.0.0.1');
});
afterAll(async () => {
  admin.disconnect();
  await redis.stop();
  process.off('unhandledRejection', onUnhandled);
});
beforeEach(() => {
  prefix = `t${++prefixCounter}`; // fresh keys and channels per test
});
afterEach(async () => {
  await Promise.all(live.splice(0).map((adapter) => adapter.leave()));
  expect(unhandled).toEqual([]);
});

function quietLogger(warnings: string[]): Logger {
  return { error: (message) => void warnings.push(message), warn: (message) => void warnings.push(message) };
}

/** Answers `send` with a delivery of its client id and `clients` with its own node id. */
function answering(got: Node['got'], id: () => number): RequestHandler {
  return (request, payload): NodeReply => {
    got.push({ request, payload });
    if (request.op === 'clients') return { op: 'clients', clientIds: [id()] };
    if (request.op === 'send') return { op: 'delivery', sent: [request.clientId], failed: [] };
    return { op: 'result', error: null };
  };
}

async function node(options: Partial<RedisAdapterOptions> = {}, handler?: RequestHandler, url = redis.url): Promise<Node> {
  const warnings: string[] = [];
  const adapter = redisAdapter({ url, prefix, requestTimeoutMs: 1000, logger: quietLogger(warnings), ...options });
  live.push(adapter);
  const got: Node['got'] = [];
  let id = 0;
  id = await adapter.join(handler ?? answering(got, () => id));
  return { adapter, id, got, warnings };
}

async function waitFor(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Resolves once every named channel has exactly one subscriber (adapters resubscribed). */
async function subscribed(...channels: string[]): Promise<void> {
  await waitFor(async () => {
    const counts = (await admin.pubsub('NUMSUB', ...channels)) as (string | number)[];
    return counts.filter((_, i) => i % 2 === 1).every((n) => Number(n) >= 1);
  }, `subscribers on ${channels.join(', ')}`);
}

const send = (clientId: number): NodeRequest => ({ op: 'send', clientId, binary: true });

describe('wire format', () => {
  it('round-trips requests (payload bytes, null, empty) and replies', () => {
    const messages: WireMessage[] = [
      { kind: 'req', from: 3, seq: 9, id: 4, request: { op: 'multicast', binary: false, clientIds: [2 ** 33 + 1] }, payload: Buffer.from([0, 0, 1, 0]) },
      { kind: 'req', from: 3, seq: 10, id: 5, request: { op: 'clients' }, payload: null },
      { kind: 'req', from: 3, seq: 11, id: 6, request: { op: 'close', clientId: 7, code: 1000, reason: 'bye' }, payload: Buffer.alloc(0) },
      { kind: 'rep', from: 1, seq: 1, id: 4, reply: { op: 'delivery', sent: [1], failed: [{ clientId: 2, error: { code: ErrorCodes.UNKNOWN_CLIENT, message: 'gone' } }] } },
    ];
    for (const message of messages) expect(decodeMessage(encodeMessage(message))).toEqual({ ok: true, message });
  });

  it('reports malformed input instead of throwing', () => {
    const header = (value: unknown, tail = Buffer.alloc(0)): Buffer => {
      const json = Buffer.from(JSON.stringify(value));
      const length = Buffer.alloc(4);
      length.writeUInt32BE(json.length);
      return Buffer.concat([length, json, tail]);
    };
    const base = { v: 1, k: 'req', f: 1, s: 1, i: 1, b: { op: 'clients' }, p: false };
    const bad = [
      Buffer.alloc(0),
      Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7b]),
      header('x'),
      header({ ...base, v: 2 }),
      header({ ...base, k: 'nope' }),
      header({ ...base, f: 0 }),
      header({ ...base, s: 1.5 }),
      header({ ...base, b: { op: 'send', clientId: -1, binary: true } }),
      header({ ...base, b: { op: 'explode' } }),
      header(base, Buffer.from([1])),
      header({ ...base, k: 'rep', b: { op: 'result', error: { code: 'WSA_ERR_MADE_UP', message: '' } } }),
      header({ ...base, k: 'rep', p: true, b: { op: 'result', error: null } }),
    ];
    for (const bytes of bad) expect(decodeMessage(bytes).ok).toBe(false);
  });
});

describe('redisAdapter options', () => {
  it('rejects bad options at creation with WSA_ERR_INVALID_OPTION', () => {
    const bad: unknown[] = [
      { nope: 1 },
      { url: 'redis://x', redis: { port: 1 } },
      { url: 'http://x' },
      { requestTimeoutMs: 0 },
      { prefix: '' },
      { logger: {} },
    ];
    for (const options of bad) {
      expect(() => redisAdapter(options as RedisAdapterOptions)).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_OPTION }));
    }
  });

  it('join rejects with WSA_ERR_CLUSTER when Redis is unreachable', async () => {
    const { port } = redis;
    const adapter = redisAdapter({ redis: { host: '127.0.0.1', port: port === 1 ? 2 : 1 }, logger: quietLogger([]) });
    await expect(adapter.join(() => ({ op: 'result', error: null }))).rejects.toMatchObject({ code: ErrorCodes.CLUSTER });
    await adapter.leave();
  });
});

describe('redisAdapter', () => {
  it('gives distinct, increasing node ids', async () => {
    const a = await node();
    const b = await node();
    expect(a.id).toBeGreaterThanOrEqual(1);
    expect(b.id).toBeGreaterThan(a.id);
  });

  it('round-trips a request and its reply with the payload bytes intact', async () => {
    const a = await node();
    const b = await node();
    const payload = Buffer.from([0, 1, 2, 0, 255, 0, 0x7b, 0x22, 0]);
    await expect(a.adapter.request(b.id, send(42), payload)).resolves.toEqual({ op: 'delivery', sent: [42], failed: [] });
    await a.adapter.request(b.id, { op: 'clients' }, null);
    await a.adapter.request(b.id, send(43), Buffer.alloc(0));
    expect(b.got.map((g) => g.payload)).toEqual([payload, null, Buffer.alloc(0)]);
    expect(b.got[0]?.request).toEqual(send(42));
    expect(a.adapter.stats).toMatchObject({ published: 3, received: 3, gaps: 0, publishFailed: 0 });
  });

  it('rejects a request to a node that does not exist at once', async () => {
    const a = await node({ requestTimeoutMs: 5000 });
    const started = Date.now();
    await expect(a.adapter.request(a.id + 1000, send(1), null)).rejects.toMatchObject({ code: ErrorCodes.NODE_UNREACHABLE });
    expect(Date.now() - started).toBeLessThan(500);
  });

  it('rejects with NODE_UNREACHABLE after requestTimeoutMs when no reply comes', async () => {
    const a = await node({ requestTimeoutMs: 200 });
    const b = await node({}, () => new Promise<NodeReply>(() => undefined));
    await expect(a.adapter.request(b.id, send(1), null)).rejects.toMatchObject({ code: ErrorCodes.NODE_UNREACHABLE });
    expect(a.adapter.stats.requestTimeouts).toBe(1);
  });

  it('turns a failing handler into an error reply', async () => {
    const a = await node();
    const b = await node({}, () => {
      throw new Error('boom');
    });
    const reply = await a.adapter.request(b.id, send(1), null);
    expect(reply).toEqual({ op: 'result', error: { code: ErrorCodes.CLUSTER, message: 'boom' } });
  });

  it('requestAll gathers a reply from every other node', async () => {
    const a = await node();
    const b = await node();
    const c = await node();
    const gathered = await a.adapter.requestAll({ op: 'clients' }, null);
    expect(gathered.unreached).toBe(0);
    expect(gathered.replies.flatMap((r) => (r.op === 'clients' ? r.clientIds : [])).sort()).toEqual([b.id, c.id].sort());
    expect(a.got).toEqual([]); // a node does not answer its own broadcast
  });

  it('a busy node that acknowledged a broadcast or multicast is waited for, up to deliveryTimeoutMs', async () => {
    const slow = (ms: number) => (): Promise<NodeReply> =>
      new Promise((resolve) => setTimeout(() => resolve({ op: 'delivery', sent: [ms], failed: [] }), ms));
    const a = await node({ requestTimeoutMs: 150, deliveryTimeoutMs: 2000 });
    const b = await node({}, slow(500)); // slower than requestTimeoutMs, within deliveryTimeoutMs
    const c = await node({}, slow(500));
    const broadcast = { op: 'broadcast', binary: false, except: [] } as const;
    const gathered = await a.adapter.requestAll(broadcast, Buffer.from('x'));
    expect(gathered).toEqual({ replies: [{ op: 'delivery', sent: [500], failed: [] }, { op: 'delivery', sent: [500], failed: [] }], unreached: 0 });
    const multicast = { op: 'multicast', binary: false, clientIds: [1] } as const;
    expect(await a.adapter.request(b.id, multicast, Buffer.from('x'))).toEqual({ op: 'delivery', sent: [500], failed: [] });
    expect(a.adapter.stats.requestTimeouts).toBe(0);
    // A send is not acknowledged: the request timeout applies to its reply.
    await expect(a.adapter.request(c.id, send(1), null)).rejects.toMatchObject({ code: ErrorCodes.NODE_UNREACHABLE });
  });

  it('a requester blocked past the timeout still counts the replies that arrived meanwhile', async () => {
    // The other node runs in its own process, so it answers while this one is blocked.
    const child = spawn(process.execPath, ['--import', 'tsx', RESPONDER, redis.url, prefix], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      const remoteId = await new Promise<number>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          const match = /ready (\d+)/.exec(chunk.toString());
          if (match !== null) resolve(Number(match[1]));
        });
        child.once('exit', (code) => reject(new Error(`responder exited with ${String(code)}`)));
      });
      const a = await node({ requestTimeoutMs: 100, deliveryTimeoutMs: 100 });
      const gathered = a.adapter.requestAll({ op: 'clients' }, null);
      const one = a.adapter.request(remoteId, send(1), null);
      // As when a sender writes its own share of a broadcast: its loop is busy past the timeout.
      const until = Date.now() + 400;
      while (Date.now() < until) {
        /* busy */
      }
      const [all, single] = await Promise.allSettled([gathered, one]);
      expect(all.status === 'fulfilled' ? all.value : all.reason).toEqual({ replies: [{ op: 'clients', clientIds: [remoteId] }], unreached: 0 });
      expect(single.status).toBe('fulfilled');
      expect(a.adapter.stats.requestTimeouts).toBe(0);
    } finally {
      child.stdin.end();
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }, 20_000);

  it('a node that acknowledged but never answers is unreached after deliveryTimeoutMs; a silent one after requestTimeoutMs', async () => {
    const a = await node({ requestTimeoutMs: 150, deliveryTimeoutMs: 600 });
    await node({}, () => new Promise<NodeReply>(() => undefined)); // acks, then hangs
    await node(); // answers at once
    const started = Date.now();
    const gathered = await a.adapter.requestAll({ op: 'broadcast', binary: false, except: [] }, Buffer.from('x'));
    expect(gathered.unreached).toBe(1);
    expect(gathered.replies).toHaveLength(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(550);
    expect(a.adapter.stats.requestTimeouts).toBe(1);
    // 'clients' is not acknowledged: a hanging node is given up after requestTimeoutMs.
    const quick = Date.now();
    expect((await a.adapter.requestAll({ op: 'clients' }, null)).unreached).toBe(1);
    expect(Date.now() - quick).toBeLessThan(500);
  });

  it('keeps send order across the node channel and the all channel', async () => {
    const a = await node();
    const b = await node();
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 500; i += 1) {
      calls.push(i % 2 === 0 ? a.adapter.request(b.id, send(i), Buffer.from([i & 0xff])) : a.adapter.requestAll(send(i), null));
    }
    await Promise.all(calls);
    expect(b.got.map((g) => (g.request.op === 'send' ? g.request.clientId : -1))).toEqual([...Array(500).keys()]);
    expect(b.adapter.stats.gaps).toBe(0);
  });

  it('counts messages lost while a subscriber reconnects as gaps, and delivers later ones', async () => {
    const a = await node();
    const b = await node();
    await a.adapter.request(b.id, send(1), null);
    await admin.client('KILL', 'TYPE', 'pubsub');
    // B's subscriber is gone right now: Redis delivers this to nobody, B's number 2 is lost.
    await expect(a.adapter.request(b.id, send(2), null)).rejects.toMatchObject({ code: ErrorCodes.NODE_UNREACHABLE });
    await subscribed(`${prefix}:node:${a.id}`, `${prefix}:node:${b.id}`);
    await expect(a.adapter.request(b.id, send(3), null)).resolves.toMatchObject({ op: 'delivery', sent: [3] });
    expect(b.adapter.stats.gaps).toBeGreaterThanOrEqual(1);
    expect(b.got.map((g) => (g.request.op === 'send' ? g.request.clientId : -1))).toEqual([1, 3]);
    expect(b.warnings.some((w) => w.includes('never arrived'))).toBe(true);
    expect(b.adapter.stats.reconnects).toBeGreaterThanOrEqual(1);
  });

  it('drops a malformed message and keeps working', async () => {
    const a = await node();
    const b = await node();
    const channel = `${prefix}:node:${b.id}`;
    const good = encodeMessage({ kind: 'req', from: a.id, seq: 1, id: 1, request: send(1), payload: null });
    for (const junk of [Buffer.from('garbage'), Buffer.from([0, 0, 0, 2, 0x7b, 0x7d]), good.subarray(0, good.length - 1), Buffer.alloc(0)]) {
      await admin.publish(channel, junk);
    }
    await admin.publish(channel, encodeMessage({ kind: 'rep', from: a.id, seq: 1, id: 99, reply: { op: 'info', info: null } }).subarray(0, 8));
    await expect(a.adapter.request(b.id, send(7), null)).resolves.toMatchObject({ sent: [7] });
    expect(b.adapter.stats.malformed).toBe(5);
    expect(b.got).toHaveLength(1);
  });

  it('leave() rejects pending requests, can be called twice, and later calls fail cleanly', async () => {
    const a = await node();
    const b = await node({}, () => new Promise<NodeReply>(() => undefined));
    const pending = expect(a.adapter.request(b.id, send(1), null)).rejects.toMatchObject({ code: ErrorCodes.NODE_UNREACHABLE });
    await a.adapter.leave();
    await a.adapter.leave();
    await pending;
    await expect(a.adapter.request(b.id, send(1), null)).rejects.toMatchObject({ code: ErrorCodes.NODE_UNREACHABLE });
    await expect(a.adapter.requestAll({ op: 'clients' }, null)).resolves.toEqual({ replies: [], unreached: 0 });
    await expect(a.adapter.join(() => ({ op: 'result', error: null }))).rejects.toMatchObject({ code: ErrorCodes.CLUSTER });
  });
});

describe('redisAdapter during a Redis outage', () => {
  let own: TestRedis;
  beforeAll(async () => {
    own = await startRedis();
  });
  afterAll(async () => {
    await own.stop();
  });

  it('fails fast while Redis is down and recovers after it restarts on the same port', async () => {
    const a = await node({}, undefined, own.url);
    const b = await node({}, undefined, own.url);
    await a.adapter.request(b.id, send(1), null);
    await own.stop();

    const started = Date.now();
    await expect(a.adapter.request(b.id, send(2), null)).rejects.toMatchObject({ code: ErrorCodes.NODE_UNREACHABLE });
    expect(Date.now() - started).toBeLessThan(1000);
    const gathered = await a.adapter.requestAll({ op: 'clients' }, null);
    expect(gathered.replies).toEqual([]);
    expect(gathered.unreached).toBeGreaterThanOrEqual(1);
    expect(a.adapter.stats.publishFailed).toBeGreaterThanOrEqual(2);

    await own.restart();
    await waitFor(() => [a, b].every((n) => n.adapter.stats.reconnects >= 2), 'both connections of both adapters to reconnect', 10_000);
    const check = new Redis(own.port, '127.0.0.1');
    try {
      await waitFor(async () => {
        const counts = (await check.pubsub('NUMSUB', `${prefix}:node:${a.id}`, `${prefix}:node:${b.id}`)) as (string | number)[];
        return Number(counts[1]) === 1 && Number(counts[3]) === 1;
      }, 'resubscription');
      // The restarted Redis lost node-seq; the adapters put it back to at least their ids.
      await waitFor(async () => Number(await check.get(`${prefix}:node-seq`)) >= b.id, 'node-seq restored');
    } finally {
      check.disconnect();
    }
    await expect(a.adapter.request(b.id, send(3), Buffer.from([0, 3]))).resolves.toMatchObject({ sent: [3] });
    await expect(a.adapter.requestAll({ op: 'clients' }, null)).resolves.toMatchObject({ unreached: 0, replies: [{ op: 'clients', clientIds: [b.id] }] });
    expect(b.got.map((g) => g.payload)).toEqual([null, Buffer.from([0, 3]), null]);
  });
});
