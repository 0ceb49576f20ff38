/**
 * Scenario 2, connection churn: connect, one 64 B message and its echo, close handshake,
 * repeated by many concurrent loops over 40 loopback source addresses per client process.
 * A third server, raw ws with the connection actor alone, shows the actor's floor.
 */
import { merge, percentileMs } from '../lib/hist.js';
import { loopbackAddresses, sleep, type ChurnJob, type LoadCommands } from '../lib/protocol.js';
import { fmt, type MetricSpec } from '../lib/report.js';
import { KIND_LABEL, kernelShare, roundOrder, startLoad, startServer, stopAll, type Context } from './common.js';

const METRICS: Record<'rate' | 'p50' | 'p99' | 'cpu', MetricSpec> = {
  rate: { id: 'churn.rate', label: 'churn: connections', unit: 'conn/s', target: { op: '>=', ratio: 0.85 } },
  p50: { id: 'churn.p50', label: 'churn: p50 connect..closed', unit: 'ms' },
  p99: { id: 'churn.p99', label: 'churn: p99 connect..closed', unit: 'ms' },
  cpu: { id: 'churn.cpu', label: 'churn: server CPU per connection', unit: 'µs', target: { op: '<=', ratio: 1.3 } },
};

export async function runChurn(ctx: Context): Promise<void> {
  const { rounds, churnClients, churnConcurrency, churnMs, warmupMs } = ctx.config;
  ctx.log(`churn: ${rounds} round(s), ${churnMs / 1000} s each, ${churnClients} client process(es) x ${churnConcurrency} loops`);
  const clients = await startLoad<LoadCommands<ChurnJob>>('churn.ts', churnClients);
  try {
    for (let round = 1; round <= rounds; round++) {
      // floor: raw ws + the connection actor alone (bench/servers/raw-ws-actor.ts).
      for (const kind of roundOrder(round, ['raw', 'wsactor', 'floor'] as const)) {
        const server = await startServer(ctx, kind, `churn-r${round}`);
        try {
          await Promise.all(
            clients.map((client, i) =>
              client.request('start', {
                port: server.port,
                addresses: loopbackAddresses(40 + 40 * i, 40),
                concurrency: churnConcurrency,
                size: 64,
              }),
            ),
          );
          await sleep(warmupMs);
          await Promise.all([server.request('reset', null), ...clients.map((c) => c.request('mark', null))]);
          await sleep(churnMs);
          const statsPromise = server.request('stats', null);
          const samples = await Promise.all(clients.map((c) => c.request('mark', null)));
          const stats = await statsPromise;
          await Promise.all(clients.map((c) => c.request('stop', null)));

          const histogram = merge(samples.map((s) => s.hist));
          const count = samples.reduce((sum, s) => sum + s.count, 0);
          const errors = samples.reduce((sum, s) => sum + s.errors, 0);
          const clientCpuUs = samples.reduce((sum, s) => sum + s.cpuMs * 1000, 0);
          const values = {
            rate: samples.reduce((sum, s) => sum + s.count / (s.elapsedMs / 1000), 0),
            p50: percentileMs(histogram, 50),
            p99: percentileMs(histogram, 99),
            cpu: count > 0 ? (stats.cpuMs * 1000) / count : Number.NaN,
          };
          for (const key of Object.keys(values) as (keyof typeof values)[]) ctx.results.add(METRICS[key], kind, values[key]);
          ctx.log(
            `churn round ${round}/${rounds}: ${KIND_LABEL[kind].padEnd(7)} ${fmt(values.rate, 'conn/s')}, ` +
              `p99 ${fmt(values.p99, 'ms')}, CPU/conn server ${fmt(values.cpu, 'µs')} (${kernelShare(stats)} kernel), clients ${fmt(clientCpuUs / count, 'µs')}` +
              (errors > 0 ? `, ${errors} failed` : ''),
          );
        } finally {
          await server.stop();
        }
      }
    }
  } finally {
    await stopAll(clients);
  }
}
