/**
 * Servers sharing a real redis-server: the cross-node Endpoint contract, and Redis going
 * away under live servers (local delivery goes on, cross-node delivery comes back, losses
 * are counted).
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes, type WsActorServer } from '../../src/index.js';
import { redisAdapter } from '../../src/cluster/redis-adapter.js';
import { captureLogger, connect, startServer, waitFor, type TestClient } from '../helpers/harness.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { describeCrossNode, NodeApp } from './cross-node.contract.js';

let redis: TestRedis;
let run = 0;
let redisDown = false;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await redis.stop();
});

describeCrossNode('Redis pub/sub', () => redisAdapter({ url: redis.url, prefix: `contract-${run}`, requestTimeoutMs: 2000, logger: captureLogger().logger }));

describe('Redis going away under live servers', () => {
  const servers: WsActorServer<null>[] = [];
  const clients: TestClient[] = [];

  afterEach(async () => {
    for (const c of clients.splice(0)) c.ws.terminate();
    await Promise.all(servers.splice(0).map((s) => s.stop()));
    run++; // each test is its own cluster
    if (redisDown) await redis.restart();
    redisDown = false;
  });

  async function node(): Promise<{ server: WsActorServer<null>; app: NodeApp; url: string }> {
    const app = new NodeApp();
    const { logger } = captureLogger(); // outage errors are expected here
    const started = await startServer<null>(app, {
      cluster: redisAdapter({ url: redis.url, prefix: `outage-${run}`, requestTimeoutMs: 1000, logger }),
      logger,
    });
    servers.push(started.server);
    return { server: started.server, app, url: started.url };
  }

  async function open(url: string): Promise<{ client: TestClient; id: number }> {
    const client = await connect(url);
    clients.push(client);
    return { client, id: Number((await client.nextMessage()).data.toString().slice(3)) };
  }

  const texts = (c: TestClient): string[] => c.messages.map((m) => m.data.toString()).filter((t) => !t.startsWith('id:'));

  it('restart: local delivery goes on, cross-node delivery resumes, misses are reported', async () => {
    const a = await node();
    const b = await node();
    const a1 = await open(a.url);
    const b1 = await open(b.url);
    const ep = a.server.endpoint;
    expect(await ep.send('before', b1.id)).toEqual({ ok: true });

    await redis.stop();
    redisDown = true;
    // Cross-node sends fail with a typed error while Redis is down (once ioredis noticed).
    let lost = await ep.send('during', b1.id);
    for (let i = 0; i < 50 && lost.ok; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      lost = await ep.send('during', b1.id);
    }
    expect(lost.ok ? null : lost.error.code).toBe(ErrorCodes.NODE_UNREACHABLE);
    const started = Date.now();
    expect((await ep.send('during', b1.id)).ok).toBe(false);
    expect(Date.now() - started).toBeLessThan(500); // fails fast, no queueing
    // Local delivery does not depend on Redis; the other node shows up as unreached.
    const during = await ep.broadcast('broadcast during');
    expect(during.sent).toEqual([a1.id]);
    expect(during.unreachedNodes).toBe(1);
    expect(await ep.send('local during', a1.id)).toEqual({ ok: true });
    a1.client.ws.send('from a1 during');
    await waitFor(() => a.app.received.includes('from a1 during'));

    await redis.restart();
    redisDown = false;
    await waitFor(() => (a.server.clusterStats?.reconnects ?? 0) >= 1 && (b.server.clusterStats?.reconnects ?? 0) >= 1, 10_000, 'reconnects');
    // Cross-node delivery comes back once both sides are subscribed again.
    let back = false;
    for (let i = 0; i < 100 && !back; i++) {
      back = (await ep.send(`after ${i}`, b1.id)).ok;
      if (!back) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(back).toBe(true);
    const after = await ep.broadcast('broadcast after');
    expect([...after.sent].sort()).toEqual([a1.id, b1.id].sort());
    expect(after.unreachedNodes).toBe(0);
    await waitFor(() => texts(b1.client).includes('broadcast after'));
    expect(texts(b1.client)).not.toContain('during');
    expect(texts(b1.client)).not.toContain('broadcast during');
    expect(texts(a1.client)).toEqual(['broadcast during', 'local during', 'broadcast after']);
    expect(a.server.clusterStats?.publishFailed).toBeGreaterThanOrEqual(2);
  });

  it('a message published while a node is resubscribing is counted as a gap', async () => {
    const a = await node();
    const b = await node();
    const b1 = await open(b.url);
    expect((await a.server.endpoint.broadcast('first')).sent).toContain(b1.id);
    const admin = new Redis(redis.url);
    try {
      // Cut only the subscriber connections: publishers stay up, so A's next broadcast is
      // published while B is not listening.
      await admin.client('KILL', 'TYPE', 'pubsub');
      await a.server.endpoint.broadcast('missed');
      await waitFor(() => (b.server.clusterStats?.reconnects ?? 0) >= 1 && (a.server.clusterStats?.reconnects ?? 0) >= 1, 10_000, 'resubscribe');
      // The hole shows when A's next message to B arrives.
      let seen = false;
      for (let i = 0; i < 50 && !seen; i++) {
        await a.server.endpoint.broadcast(`later ${i}`);
        seen = texts(b1.client).some((t) => t.startsWith('later'));
        if (!seen) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await waitFor(() => texts(b1.client).some((t) => t.startsWith('later')));
      expect(texts(b1.client)).not.toContain('missed');
      expect(b.server.clusterStats?.gaps).toBeGreaterThanOrEqual(1);
    } finally {
      admin.disconnect();
    }
  });
});
