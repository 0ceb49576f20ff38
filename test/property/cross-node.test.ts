/**
 * Property tests of N1/N2 (docs/lifecycle.md): random sends, broadcasts (with excepts) and
 * multicasts from random nodes reach exactly the clients they name, each once, and the
 * messages of one node to one client arrive in call order. Real servers and sockets on
 * 127.0.0.1; once with the in-process adapter, once over a real redis-server.
 * Reproduce a failure with FC_SEED=<seed> (and FC_PATH=<path>) from its report.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryCluster, redisAdapter, type ClusterAdapter, type Endpoint, type Websocket, type WsActorServer } from '../../src/index.js';
import { captureLogger, connect, startServer, waitFor, type TestClient } from '../helpers/harness.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';

const seed = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED);
const path = process.env.FC_PATH;
const runs = Number(process.env.FC_RUNS ?? 0);

type Op =
  | { readonly kind: 'send'; readonly from: number; readonly to: number }
  | { readonly kind: 'broadcast'; readonly from: number; readonly except: readonly number[] }
  | { readonly kind: 'multicast'; readonly from: number; readonly to: readonly number[] };

interface Case {
  /** Clients per node (its length is the node count). */
  readonly layout: readonly number[];
  readonly ops: readonly Op[];
  /** Await each call before the next, or fire them all in one tick. */
  readonly awaitEach: boolean;
}

const caseArbitrary: fc.Arbitrary<Case> = fc
  .array(fc.integer({ min: 1, max: 3 }), { minLength: 2, maxLength: 3 })
  .chain((layout) => {
    const nodes = layout.length;
    const clients = layout.reduce((a, b) => a + b, 0);
    const node = fc.nat(nodes - 1);
    const client = fc.nat(clients - 1);
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('send' as const), from: node, to: client }),
      fc.record({ kind: fc.constant('broadcast' as const), from: node, except: fc.uniqueArray(client, { maxLength: 2 }) }),
      fc.record({ kind: fc.constant('multicast' as const), from: node, to: fc.uniqueArray(client, { minLength: 1, maxLength: clients }) }),
    );
    return fc.record({ layout: fc.constant(layout), ops: fc.array(op, { minLength: 1, maxLength: 30 }), awaitEach: fc.boolean() });
  });

class Greeter implements Websocket<null> {
  endpoint: Endpoint | null = null;
  onStart(endpoint: Endpoint): void {
    this.endpoint = endpoint;
  }
  async onOpen(id: number): Promise<void> {
    await this.endpoint?.send(`id:${id}`, id);
  }
}

async function runCase(c: Case, makeAdapter: () => ClusterAdapter): Promise<void> {
  const servers: WsActorServer<null>[] = [];
  const sockets: TestClient[] = [];
  try {
    const nodes: { ep: Endpoint; url: string }[] = [];
    for (let n = 0; n < c.layout.length; n++) {
      const started = await startServer<null>(new Greeter(), { cluster: makeAdapter() });
      servers.push(started.server);
      nodes.push({ ep: started.server.endpoint, url: started.url });
    }
    const ids: number[] = [];
    for (const [n, count] of c.layout.entries()) {
      for (let k = 0; k < count; k++) {
        const client = await connect(nodes[n]?.url ?? '');
        sockets.push(client);
        ids.push(Number((await client.nextMessage()).data.toString().slice(3)));
      }
    }
    // expected[client] = messages in call order; each message names its sender node.
    const expected = ids.map(() => [] as string[]);
    const calls: Promise<unknown>[] = [];
    for (const [i, op] of c.ops.entries()) {
      const text = `${op.from}:${i}`;
      const ep = nodes[op.from]?.ep as Endpoint;
      const targets = op.kind === 'send' ? [op.to] : op.kind === 'multicast' ? op.to : ids.map((_, k) => k).filter((k) => !op.except.includes(k));
      for (const t of targets) expected[t]?.push(text);
      const call =
        op.kind === 'send'
          ? ep.send(text, ids[op.to] as number).then((r) => expect(r).toEqual({ ok: true }))
          : (op.kind === 'broadcast' ? ep.broadcast(text, op.except.map((k) => ids[k] as number)) : ep.multicast(text, op.to.map((k) => ids[k] as number))).then(
              (r) => {
                expect([...r.sent].sort()).toEqual(targets.map((k) => ids[k]).sort());
                expect(r.failed).toEqual([]);
              },
            );
      if (c.awaitEach) await call;
      else calls.push(call);
    }
    await Promise.all(calls);
    for (const [k, client] of sockets.entries()) {
      const want = expected[k] ?? [];
      await waitFor(() => client.messages.length >= want.length + 1, 5000, `client ${k} to get ${want.length} messages`);
      await new Promise((resolve) => setTimeout(resolve, 5)); // room for a duplicate to show up
      const got = client.messages.slice(1).map((m) => m.data.toString());
      // Exactly once: the same multiset. In order per sender node: the same sequence per sender.
      expect([...got].sort()).toEqual([...want].sort());
      for (let n = 0; n < c.layout.length; n++) {
        const from = (list: string[]): string[] => list.filter((m) => m.startsWith(`${n}:`));
        expect(from(got)).toEqual(from(want));
      }
    }
  } finally {
    for (const s of sockets) s.ws.terminate();
    await Promise.all(servers.map((s) => s.stop()));
  }
}

function assertCases(numRuns: number, makeAdapter: () => () => ClusterAdapter): Promise<void> {
  return fc.assert(
    fc.asyncProperty(caseArbitrary, (c) => runCase(c, makeAdapter())),
    { numRuns: runs > 0 ? runs : numRuns, ...(seed === undefined ? {} : { seed }), ...(path === undefined ? {} : { path }), endOnFailure: true, verbose: 1 },
  );
}

describe('Endpoint across nodes: exactly once, in order per sender (property)', () => {
  let redis: TestRedis;
  let cluster = 0;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis.stop();
  });

  it('in-process adapter', async () => {
    await assertCases(60, () => {
      const c = memoryCluster();
      return () => c.adapter();
    });
  }, 120_000);

  it('Redis pub/sub adapter', async () => {
    await assertCases(25, () => {
      const prefix = `prop-${++cluster}`;
      return () => redisAdapter({ url: redis.url, prefix, requestTimeoutMs: 3000, logger: captureLogger().logger });
    });
  }, 120_000);
});
