/**
 * Scenario 7, reconnect storm (issue 17): N clients from several processes all connect at the
 * same moment to a fresh server, as after a deploy. Time from that moment until every client
 * has its 'open' event; each client's own connect time; the server's CPU per connection.
 */
import { readFileSync } from 'node:fs';
import { merge, percentileMs } from '../lib/hist.js';
import { loopbackAddresses, nowMs, sleep, type ServerKind, type StormCommands, type StormResult } from '../lib/protocol.js';
import { fmt, type MetricSpec } from '../lib/report.js';
import { KIND_LABEL, kernelShare, roundOrder, share, startLoad, startServer, stopAll, waitForClients, type Context } from './common.js';

/** Lead time for the shared start moment: every storm process has its 'go' by then. */
const LEAD_MS = 300;
const TIMEOUT_MS = 60_000;

function specs(n: number): Record<'all' | 'p50' | 'p99' | 'cpu' | 'failed', MetricSpec> {
  const k = n >= 1000 ? `${n / 1000}k` : String(n);
  return {
    all: { id: 'storm.all', label: `storm of ${k}: until all open`, unit: 'ms', target: { op: '<=', ratio: 1.2 } },
    p50: { id: 'storm.p50', label: `storm of ${k}: p50 connect..open`, unit: 'ms' },
    p99: { id: 'storm.p99', label: `storm of ${k}: p99 connect..open`, unit: 'ms' },
    cpu: { id: 'storm.cpu', label: `storm of ${k}: server CPU per connection`, unit: 'µs' },
    failed: { id: 'storm.failed', label: `storm of ${k}: failed connects`, unit: '' },
  };
}

/**
 * Kernel counters (TcpExt, the whole network namespace, so other processes' connects count
 * too): SYNs dropped because a listener's accept queue was full, and SYN cookies sent because
 * its SYN queue was. Either means clients waited for a SYN retransmit (1 s, then 3 s, ...).
 */
function tcpCounters(): { overflows: number; cookies: number } {
  const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
  const index = lines.findIndex((line) => line.startsWith('TcpExt:'));
  const names = lines[index]?.split(' ') ?? [];
  const values = lines[index + 1]?.split(' ') ?? [];
  const get = (name: string): number => Number(values[names.indexOf(name)] ?? Number.NaN);
  return { overflows: get('ListenOverflows'), cookies: get('SyncookiesSent') };
}

async function oneRound(ctx: Context, kind: ServerKind, round: number): Promise<void> {
  const { stormConns: n, holders: holderCount } = ctx.config;
  const metric = specs(n);
  const [server, holders] = await Promise.all([startServer(ctx, kind, `storm-r${round}`), startLoad<StormCommands>('storm.ts', holderCount)]);
  try {
    // 200.. : clear of echo (2..), churn (40..) and idle/machine (100..).
    await Promise.all(holders.map((h, i) => h.request('prepare', { port: server.port, count: share(n, holderCount, i), addresses: loopbackAddresses(200 + 8 * i, 8) })));
    await server.request('reset', null);
    const kernelBefore = tcpCounters();
    const atMs = nowMs() + LEAD_MS;
    const results: StormResult[] = await Promise.all(holders.map((h) => h.request('go', { atMs, timeoutMs: TIMEOUT_MS }, TIMEOUT_MS + 10_000)));
    // Queued behind whatever the server still had to do for the last connections.
    const stats = await server.request('stats', null);
    const kernelAfter = tcpCounters();

    const sum = (key: 'opened' | 'failed' | 'dropped' | 'cpuMs'): number => results.reduce((total, r) => total + r[key], 0);
    const opened = sum('opened');
    const failed = sum('failed');
    const reasons: Record<string, number> = {};
    for (const r of results) for (const [reason, count] of Object.entries(r.reasons)) reasons[reason] = (reasons[reason] ?? 0) + count;
    const histogram = merge(results.map((r) => r.hist));
    const values = {
      all: opened > 0 ? Math.max(...results.map((r) => r.lastOpenMs)) - atMs : Number.NaN,
      p50: percentileMs(histogram, 50),
      p99: percentileMs(histogram, 99),
      cpu: opened > 0 ? (stats.cpuMs * 1000) / opened : Number.NaN,
      failed,
    };
    for (const key of Object.keys(values) as (keyof typeof values)[]) ctx.results.add(metric[key], kind, values[key]);
    if (failed === 0) await waitForClients(server, n);
    const overflows = kernelAfter.overflows - kernelBefore.overflows;
    const cookies = kernelAfter.cookies - kernelBefore.cookies;
    ctx.log(
      `storm round ${round}/${ctx.config.rounds}: ${KIND_LABEL[kind].padEnd(7)} ${opened}/${n} open after ${fmt(values.all, 'ms')}, ` +
        `connect p50 ${fmt(values.p50, 'ms')} p99 ${fmt(values.p99, 'ms')} max ${fmt(percentileMs(histogram, 100), 'ms')}; ` +
        `server CPU/conn ${fmt(values.cpu, 'µs')} (${kernelShare(stats)} kernel), loop delay max ${fmt(stats.eldMaxMs, 'ms')}; ` +
        `clients CPU/conn ${fmt((sum('cpuMs') * 1000) / n, 'µs')}, created in ${fmt(Math.max(...results.map((r) => r.createMs)), 'ms')} ` +
        `(start late by ${fmt(Math.max(...results.map((r) => r.lateMs)), 'ms')}); kernel: ${overflows} accept-queue overflows, ${cookies} SYN cookies; ` +
        `${failed} failed${failed > 0 ? ` (${JSON.stringify(reasons)})` : ''}${sum('dropped') > 0 ? `, ${sum('dropped')} closed after open` : ''}`,
    );
  } finally {
    // The holders go first: their clients close with them, then the server has nothing left.
    await stopAll(holders);
    await server.stop();
  }
}

export async function runStorm(ctx: Context): Promise<void> {
  const { rounds, stormConns, holders } = ctx.config;
  ctx.log(`reconnect storm: ${rounds} round(s), ${stormConns} clients connecting at once from ${holders} processes to a fresh server`);
  for (let round = 1; round <= rounds; round++) {
    for (const kind of roundOrder(round, ['raw', 'wsactor', 'floor'] as const)) {
      await oneRound(ctx, kind, round);
      // Let the previous server's closing connections drain from the kernel before the next storm.
      await sleep(500);
    }
  }
}
