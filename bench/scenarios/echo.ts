/**
 * Scenario 1 (echo throughput and latency) and 5 (server event-loop delay meanwhile):
 * each case runs warm-up, then a measured window; raw ws, wsactor and the TCP ceiling
 * take turns within every round.
 */
import type { Proc } from '../lib/ipc.js';
import { merge, percentileMs } from '../lib/hist.js';
import { loopbackAddresses, sleep, type EchoJob, type LoadCommands, type ServerKind } from '../lib/protocol.js';
import { fmt, type MetricSpec } from '../lib/report.js';
import { KIND_LABEL, kernelShare, roundOrder, share, startLoad, startServer, stopAll, type Context, type Server } from './common.js';

interface EchoCase {
  conns: number;
  inflight: number;
  size: number;
}

export const ECHO_CASES: readonly EchoCase[] = [
  { conns: 1, inflight: 1, size: 64 },
  { conns: 1, inflight: 1, size: 4096 },
  { conns: 50, inflight: 16, size: 64 },
  { conns: 50, inflight: 16, size: 4096 },
];

type Client = Proc<LoadCommands<EchoJob>>;

function specs(c: EchoCase): Record<'rate' | 'p50' | 'p99' | 'eld' | 'cpu', MetricSpec> {
  const name = `echo ${c.conns}x${c.inflight} ${c.size === 4096 ? '4 KiB' : `${c.size} B`}`;
  const id = `echo.${c.conns}x${c.inflight}.${c.size}`;
  return {
    rate: { id: `${id}.rate`, label: `${name}: throughput`, unit: 'msg/s', target: { op: '>=', ratio: 0.9 } },
    p50: { id: `${id}.p50`, label: `${name}: p50 round trip`, unit: 'ms' },
    p99: { id: `${id}.p99`, label: `${name}: p99 round trip`, unit: 'ms', target: { op: '<=', ratio: 1.2 } },
    eld: { id: `${id}.eld`, label: `${name}: server loop delay p99`, unit: 'ms' },
    cpu: { id: `${id}.cpu`, label: `${name}: server CPU per msg`, unit: 'µs' },
  };
}

async function measure(ctx: Context, server: Server, kind: ServerKind, clients: Client[], c: EchoCase): Promise<void> {
  const used = c.conns === 1 ? clients.slice(0, 1) : clients;
  await Promise.all(
    used.map((client, i) =>
      client.request('start', {
        kind: kind === 'tcp' ? 'tcp' : 'ws',
        port: server.port,
        addresses: loopbackAddresses(2 + 4 * i, 4),
        conns: share(c.conns, used.length, i),
        inflight: c.inflight,
        size: c.size,
      }),
    ),
  );
  await sleep(ctx.config.warmupMs);
  await Promise.all([server.request('reset', null), ...used.map((client) => client.request('mark', null))]);
  await sleep(ctx.config.echoMs);
  const statsPromise = server.request('stats', null);
  const samples = await Promise.all(used.map((client) => client.request('mark', null)));
  const stats = await statsPromise;
  await Promise.all(used.map((client) => client.request('stop', null)));

  const histogram = merge(samples.map((s) => s.hist));
  const count = samples.reduce((sum, s) => sum + s.count, 0);
  const rate = samples.reduce((sum, s) => sum + s.count / (s.elapsedMs / 1000), 0);
  const clientCpuUs = samples.reduce((sum, s) => sum + s.cpuMs * 1000, 0);
  const values = {
    rate,
    p50: percentileMs(histogram, 50),
    p99: percentileMs(histogram, 99),
    eld: stats.eldP99Ms,
    cpu: count > 0 ? (stats.cpuMs * 1000) / count : Number.NaN,
  };
  const metric = specs(c);
  for (const key of Object.keys(values) as (keyof typeof values)[]) ctx.results.add(metric[key], kind, values[key]);
  ctx.log(
    `  ${KIND_LABEL[kind].padEnd(7)} ${c.conns}x${c.inflight} ${String(c.size).padStart(4)} B: ${fmt(rate, 'msg/s')}, ` +
      `p50 ${fmt(values.p50, 'ms')}, p99 ${fmt(values.p99, 'ms')}, loop delay p99 ${fmt(values.eld, 'ms')}, ` +
      `CPU/msg server ${fmt(values.cpu, 'µs')} (${kernelShare(stats)} kernel), clients ${fmt(clientCpuUs / count, 'µs')}`,
  );
}

export async function runEcho(ctx: Context): Promise<void> {
  const { rounds, echoClients } = ctx.config;
  ctx.log(`echo: ${ECHO_CASES.length} cases x ${rounds} round(s), ${ctx.config.echoMs / 1000} s each, ${echoClients} client process(es)`);
  const clients = await startLoad<LoadCommands<EchoJob>>('echo.ts', echoClients);
  try {
    for (let round = 1; round <= rounds; round++) {
      // All three servers run for the round; the kinds take turns case by case.
      const kinds = roundOrder(round, ['raw', 'wsactor', 'tcp'] as const);
      const servers = await Promise.all(kinds.map((kind) => startServer(ctx, kind, `echo-r${round}`)));
      ctx.log(`echo round ${round}/${rounds}`);
      try {
        for (const c of ECHO_CASES) {
          for (const [i, kind] of kinds.entries()) await measure(ctx, servers[i] as Server, kind, clients, c);
        }
      } finally {
        await stopAll(servers);
      }
    }
  } finally {
    await stopAll(clients);
  }
}
