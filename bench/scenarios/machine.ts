/**
 * Scenario 6 (per-client machines, issue 15 point 8), on one fresh server process per round:
 * memory after GC before and after N idle clients that each sent one message moving their
 * per-client state to a second state (wsactor: a client machine, hibernated with its connection
 * actor 250 ms after; raw ws: a Map entry), then the cost of one message to a hibernated
 * machine against one to the same machine live again: in batches, one message to each client
 * of the batch (restores it), at once a second one (live), then a pause past hibernation.
 */
import { HIBERNATE_AFTER_MS } from '../../src/runtime/hibernation.js';
import { merge, percentileMs } from '../lib/hist.js';
import type { Proc } from '../lib/ipc.js';
import { loopbackAddresses, sleep, type PlayerCommands, type ServerStats } from '../lib/protocol.js';
import { fmt, type MetricSpec } from '../lib/report.js';
import { KIND_LABEL, rawResultFile, roundOrder, share, startLoad, startServer, stopAll, waitForClients, type Context, type Server } from './common.js';

const SERVER_FILE: Record<'raw' | 'wsactor', string> = { raw: 'raw-ws-machine', wsactor: 'wsactor-machine' };
/** After the last join, before the memory is measured: well past hibernation. */
const SETTLE_MS = 1000;
/** After a batch's second message: its machines hibernate again (timed as a figure of its own). */
const REST_MS = HIBERNATE_AFTER_MS + 100;
/** Clients of the first holder sent both messages before anything is measured (JIT warm-up). */
const WARMUP = 50;

type Key = 'rss' | 'heap' | 'cpuHib' | 'cpuLive' | 'cpuRest' | 'p50Hib' | 'p50Live' | 'p99Hib' | 'p99Live';

function specs(n: number): Record<Key, MetricSpec> {
  const k = n >= 1000 ? `${n / 1000}k` : String(n);
  const target = { op: '<=', ratio: 1.5 } as const;
  return {
    rss: { id: 'machine.rss', label: `machine: RSS per idle client (${k}, hibernated)`, unit: 'KiB', target },
    heap: { id: 'machine.heap', label: `machine: heap per idle client (${k}, hibernated)`, unit: 'KiB', target },
    cpuHib: { id: 'machine.cpu.hibernated', label: 'machine: server CPU per msg, hibernated (raw: 1st msg)', unit: 'µs' },
    cpuLive: { id: 'machine.cpu.live', label: 'machine: server CPU per msg, live (raw: 2nd msg)', unit: 'µs' },
    cpuRest: { id: 'machine.cpu.rehibernate', label: `machine: server CPU per client in the ${REST_MS} ms after`, unit: 'µs' },
    p50Hib: { id: 'machine.p50.hibernated', label: 'machine: p50 round trip, hibernated (raw: 1st msg)', unit: 'ms' },
    p50Live: { id: 'machine.p50.live', label: 'machine: p50 round trip, live (raw: 2nd msg)', unit: 'ms' },
    p99Hib: { id: 'machine.p99.hibernated', label: 'machine: p99 round trip, hibernated (raw: 1st msg)', unit: 'ms' },
    p99Live: { id: 'machine.p99.live', label: 'machine: p99 round trip, live (raw: 2nd msg)', unit: 'ms' },
  };
}

type Players = Proc<PlayerCommands>;

interface Wave {
  cpuMs: number;
  hists: string[];
  wrong: number;
  /** Shortest and longest time a client had been quiet when its message of this wave went out. */
  minGapMs: number;
  maxGapMs: number;
}

const newWave = (): Wave => ({ cpuMs: 0, hists: [], wrong: 0, minGapMs: Number.POSITIVE_INFINITY, maxGapMs: 0 });

/** Server CPU (ms) over `work`, and what it returned. */
async function cpuOf<T>(server: Server, work: () => Promise<T>): Promise<[number, T]> {
  await server.request('reset', null);
  const result = await work();
  const stats: ServerStats = await server.request('stats', null);
  return [stats.cpuMs, result];
}

/** One message to each client `from`..`from + count - 1` of `holder`, one after the other. */
async function ping(server: Server, holder: Players, from: number, count: number, wave: Wave): Promise<void> {
  const [cpuMs, result] = await cpuOf(server, () => holder.request('ping', { from, count }));
  wave.cpuMs += cpuMs;
  wave.hists.push(result.hist);
  wave.wrong += result.wrong;
  wave.minGapMs = Math.min(wave.minGapMs, result.minGapMs);
  wave.maxGapMs = Math.max(wave.maxGapMs, result.maxGapMs);
}

async function oneRound(ctx: Context, kind: 'raw' | 'wsactor', round: number): Promise<void> {
  const { idleConns: n, holders: holderCount, machineBatch: batch } = ctx.config;
  const metric = specs(n);
  const [server, holders] = await Promise.all([
    startServer(ctx, kind, `machine-r${round}`, SERVER_FILE[kind]),
    startLoad<PlayerCommands>('players.ts', holderCount),
  ]);
  try {
    const before = await server.request('mem', null);
    const t0 = performance.now();
    const counts = holders.map((_, i) => share(n, holderCount, i));
    await Promise.all(
      holders.map((h, i) =>
        h.request('connect', { port: server.port, count: counts[i] as number, addresses: loopbackAddresses(100 + 8 * i, 8), namePrefix: `player-${i}-` }),
      ),
    );
    await waitForClients(server, n);
    const connectS = (performance.now() - t0) / 1000;
    await sleep(SETTLE_MS);
    const after = await server.request('mem', null);
    const rss = (after.rss - before.rss) / n / 1024;
    const heap = (after.heapUsed - before.heapUsed) / n / 1024;
    // What RSS holds beyond the used heap: committed heap pages, the young generation, and
    // memory outside the V8 heap (`external`: Buffers).
    const committed = (after.heapTotal - before.heapTotal) / n / 1024;
    const external = (after.external - before.external) / n / 1024;
    const newSpace = `${(before.newSpace / 2 ** 20).toFixed(0)} -> ${(after.newSpace / 2 ** 20).toFixed(0)} MiB`;
    ctx.results.add(metric.rss, kind, rss);
    ctx.results.add(metric.heap, kind, heap);
    if (ctx.config.heapSnapshot) {
      const file = await server.request('heapSnapshot', { file: rawResultFile(`${kind}-machine-r${round}.heapsnapshot`) });
      ctx.log(`  heap snapshot: ${file}`);
    }

    // Warm-up: both messages on the first clients of holder 0, then let them hibernate again.
    const first = holders[0] as Players;
    const warm = Math.min(WARMUP, Math.floor((counts[0] as number) / 2));
    await first.request('ping', { from: 0, count: warm });
    await first.request('ping', { from: 0, count: warm });
    await sleep(REST_MS);

    // Batches go round the holders; each holder's clients from `warm` on.
    const hib = newWave();
    const live = newWave();
    const rest = newWave();
    let pinged = 0;
    const next = counts.map(() => warm);
    for (let b = 0; pinged < ctx.config.machinePings; b++) {
      const h = b % holderCount;
      const from = next[h] as number;
      const count = Math.min(batch, ctx.config.machinePings - pinged, (counts[h] as number) - from);
      if (count <= 0) break;
      next[h] = from + count;
      const holder = holders[h] as Players;
      await ping(server, holder, from, count, hib);
      await ping(server, holder, from, count, live);
      rest.cpuMs += (await cpuOf(server, () => sleep(REST_MS)))[0];
      pinged += count;
    }
    const us = (wave: Wave): number => (1000 * wave.cpuMs) / pinged;
    const hibHist = merge(hib.hists);
    const liveHist = merge(live.hists);
    ctx.results.add(metric.cpuHib, kind, us(hib));
    ctx.results.add(metric.cpuLive, kind, us(live));
    ctx.results.add(metric.cpuRest, kind, us(rest));
    ctx.results.add(metric.p50Hib, kind, percentileMs(hibHist, 50));
    ctx.results.add(metric.p50Live, kind, percentileMs(liveHist, 50));
    ctx.results.add(metric.p99Hib, kind, percentileMs(hibHist, 99));
    ctx.results.add(metric.p99Live, kind, percentileMs(liveHist, 99));
    const wrong = hib.wrong + live.wrong;
    if (wrong > 0) throw new Error(`${KIND_LABEL[kind]}: ${wrong} replies with a score other than the client's own count (state lost?)`);
    // The 1st message of a client must find it hibernated, its 2nd still live.
    const warnings: string[] = [];
    if (hib.minGapMs <= HIBERNATE_AFTER_MS) warnings.push(`a 1st message only ${fmt(hib.minGapMs, 'ms')} after the client's previous one`);
    if (live.maxGapMs >= HIBERNATE_AFTER_MS * 0.8) warnings.push(`a 2nd message ${fmt(live.maxGapMs, 'ms')} after the 1st`);
    const warning = warnings.length === 0 ? '' : ` (WARNING: ${warnings.join('; ')})`;
    ctx.log(
      `machine round ${round}/${ctx.config.rounds}: ${KIND_LABEL[kind].padEnd(7)} ${n} clients in ${fmt(connectS, 's')}, ` +
        `RSS ${fmt(rss, 'KiB')}/client, heap ${fmt(heap, 'KiB')}/client (committed ${fmt(committed, 'KiB')}, external ${fmt(external, 'KiB')}, new space ${newSpace}); ${pinged} clients x 2 msgs: ` +
        `CPU ${fmt(us(hib), 'µs')} (1st) / ${fmt(us(live), 'µs')} (2nd) /msg, ${fmt(us(rest), 'µs')}/client after; ` +
        `p50 ${fmt(percentileMs(hibHist, 50), 'ms')} / ${fmt(percentileMs(liveHist, 50), 'ms')}, 1st msg at least ${fmt(hib.minGapMs, 'ms')} after the one before, 2nd at most ${fmt(live.maxGapMs, 'ms')} after the 1st${warning}`,
    );
  } finally {
    await Promise.all([server.stop(), stopAll(holders)]);
  }
}

export async function runMachine(ctx: Context): Promise<void> {
  const { rounds, idleConns, holders, machinePings, machineBatch } = ctx.config;
  ctx.log(
    `per-client machines: ${rounds} round(s), ${idleConns} idle clients (one message each) from ${holders} holder processes; ` +
      `then ${machinePings} of them get 2 messages each, ${machineBatch} clients per batch`,
  );
  for (let round = 1; round <= rounds; round++) {
    for (const kind of roundOrder(round, ['raw', 'wsactor'] as const)) await oneRound(ctx, kind, round);
  }
}
