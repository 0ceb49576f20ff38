/**
 * Scenario 3 (memory per idle connection) and 4 (broadcast fan-out), on one fresh server
 * process per round: memory after GC before and after N idle connections, then single
 * broadcasts timed to the last receiver, then a burst for the sustained rate.
 */
import type { Proc } from '../lib/ipc.js';
import { loopbackAddresses, sleep, type HoldCommands, type ServerKind } from '../lib/protocol.js';
import { fmt, median, type MetricSpec } from '../lib/report.js';
import { KIND_LABEL, kernelShare, rawResultFile, roundOrder, share, startLoad, startServer, stopAll, waitForClients, type Context, type Server } from './common.js';

const SIZE = 64;
const faster = { op: '<=', ratio: 1 / 1.5, note: '1.5x faster' } as const;

function specs(n: number): Record<'rss' | 'heap' | 'first' | 'rate' | 'cpu', MetricSpec> {
  const k = n >= 1000 ? `${n / 1000}k` : String(n);
  return {
    rss: { id: 'idle.rss', label: `memory: RSS per idle conn (${k})`, unit: 'KiB', target: { op: '<=', ratio: 1.35 } },
    heap: { id: 'idle.heap', label: `memory: heap per idle conn (${k})`, unit: 'KiB', target: { op: '<=', ratio: 1.35 } },
    first: { id: 'fanout.last', label: `fan-out to ${k}: until last client has it`, unit: 'ms', target: faster },
    rate: { id: 'fanout.rate', label: `fan-out to ${k}: sustained broadcasts`, unit: 'bc/s', target: { op: '>=', ratio: 1.5 } },
    cpu: { id: 'fanout.cpu', label: `fan-out to ${k}: server CPU per broadcast`, unit: 'ms' },
  };
}

type Holder = Proc<HoldCommands>;

/**
 * Broadcasts seq firstSeq.. (count of them); returns ms from the first send to the last
 * receipt, and the ms the server spent in its broadcast calls (the synchronous part).
 */
async function broadcastAndWait(server: Server, holders: Holder[], firstSeq: number, count: number): Promise<[number, number]> {
  const last = firstSeq + count - 1;
  const waits = holders.map((h) => h.request('await', { seq: last, timeoutMs: 60_000 }));
  const { startMs, loopMs } = await server.request('broadcast', { count, size: SIZE, firstSeq });
  const received = await Promise.all(waits);
  return [Math.max(...received.map((r) => r.lastMs)) - startMs, loopMs];
}

async function oneRound(ctx: Context, kind: ServerKind, round: number): Promise<void> {
  const { idleConns: n, holders: holderCount, fanoutSingles, fanoutBurst } = ctx.config;
  const metric = specs(n);
  const [server, holders] = await Promise.all([startServer(ctx, kind, `idle-r${round}`), startLoad<HoldCommands>('hold.ts', holderCount)]);
  try {
    const before = await server.request('mem', null);
    const t0 = performance.now();
    await Promise.all(
      holders.map((h, i) =>
        h.request('connect', { port: server.port, count: share(n, holderCount, i), addresses: loopbackAddresses(100 + 8 * i, 8) }),
      ),
    );
    await waitForClients(server, n);
    const connectS = (performance.now() - t0) / 1000;
    await sleep(500);
    const after = await server.request('mem', null);
    const rss = (after.rss - before.rss) / n / 1024;
    const heap = (after.heapUsed - before.heapUsed) / n / 1024;
    const committed = (after.heapTotal - before.heapTotal) / n / 1024;
    const newSpace = `${(before.newSpace / 2 ** 20).toFixed(0)} -> ${(after.newSpace / 2 ** 20).toFixed(0)} MiB`;
    ctx.results.add(metric.rss, kind, rss);
    ctx.results.add(metric.heap, kind, heap);
    if (ctx.config.heapSnapshot) {
      const file = await server.request('heapSnapshot', { file: rawResultFile(`${kind}-idle-r${round}.heapsnapshot`) });
      ctx.log(`  heap snapshot: ${file}`);
    }

    const singles: number[] = [];
    const loops: number[] = [];
    for (let i = 0; i < fanoutSingles; i++) {
      const [ms, loopMs] = await broadcastAndWait(server, holders, i, 1);
      singles.push(ms);
      loops.push(loopMs);
      await sleep(50);
    }
    const first = median(singles);
    ctx.results.add(metric.first, kind, first);

    await server.request('reset', null);
    const [burstMs] = await broadcastAndWait(server, holders, 1000, fanoutBurst);
    const stats = await server.request('stats', null);
    const rate = fanoutBurst / (burstMs / 1000);
    ctx.results.add(metric.rate, kind, rate);
    ctx.results.add(metric.cpu, kind, stats.cpuMs / fanoutBurst);
    ctx.log(
      `idle round ${round}/${ctx.config.rounds}: ${KIND_LABEL[kind].padEnd(7)} ${n} conns in ${fmt(connectS, 's')}, ` +
        `RSS ${fmt(rss, 'KiB')}/conn, heap ${fmt(heap, 'KiB')}/conn (committed ${fmt(committed, 'KiB')}, new space ${newSpace}); fan-out last client ${fmt(first, 'ms')} (server loop ${fmt(median(loops), 'ms')}), ` +
        `${fmt(rate, 'bc/s')} sustained, server CPU ${fmt(stats.cpuMs / fanoutBurst, 'ms')}/bc (${kernelShare(stats)} kernel)`,
    );
  } finally {
    await Promise.all([server.stop(), stopAll(holders)]);
  }
}

export async function runIdle(ctx: Context): Promise<void> {
  const { rounds, idleConns, holders } = ctx.config;
  ctx.log(`memory + fan-out: ${rounds} round(s), ${idleConns} idle connections from ${holders} holder processes`);
  for (let round = 1; round <= rounds; round++) {
    for (const kind of roundOrder(round, ['raw', 'wsactor'] as const)) await oneRound(ctx, kind, round);
  }
}
