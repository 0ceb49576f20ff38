/**
 * `npm run bench:scale [-- --quick | --connections N --workers W --clients P | --server raw | --baseline]`:
 * holds N idle WebSocket connections on one wsactor cluster (runCluster + Redis adapter, a
 * throwaway redis-server) from several client processes; reports time to connect, memory per
 * connection and the time one broadcast takes to reach everyone. `--server raw` does the same
 * with minimal raw `ws` servers in the same node:cluster layout (the floor); `--baseline` runs
 * raw `ws` then wsactor and prints both medians and their ratio. This process is the cluster
 * primary; workers and clients run compiled JavaScript under plain node.
 */
import cluster from 'node:cluster';
import { availableParallelism, loadavg } from 'node:os';
import { runCluster, type ClusterHandle } from '../../src/cluster/cluster.js';
import { startRedis, type TestRedis } from '../../test/helpers/redis-server.js';
import { Proc } from '../lib/ipc.js';
import { sleep } from '../lib/protocol.js';
import { buildScaleJs, scaleJs } from './build.js';
import { parseConfig, type ScaleConfig } from './config.js';
import { broadcastOnce, closeCodes, connectAll, Control, fmt, idleCpu, workerMemory, type Bench, type BroadcastRun, type ConnectResult, type Trigger } from './phases.js';
import { HEARTBEAT_ENV, REDIS_URL_ENV, type ClientCommands } from './protocol.js';
import { lastLoopMs, rawTrigger, startRawWorkers, stopRawWorkers } from './raw.js';
import { median, rawJson, rawLines, spread, table, writeJson, writeResults, type RawResults, type ScaleResults } from './report.js';
import { askWorker } from './workers.js';

const started = performance.now();
function log(line: string): void {
  console.log(`[${((performance.now() - started) / 1000).toFixed(1).padStart(6)}s] ${line}`);
}
const load = (): number => Number(loadavg()[0]?.toFixed(2));

/** Everything this run started, so any way out can stop it. */
const running: { redis: TestRedis | null; cluster: ClusterHandle | null; clients: Proc<ClientCommands>[]; control: Control | null } = {
  redis: null,
  cluster: null,
  clients: [],
  control: null,
};
let stopping = false;
/** Workers exiting now is part of the plan (a server run is stopping), not a failure. */
let expectExits = false;
const teardown = new AbortController();

/** Clients first (their sockets close with the process), then the workers, then Redis. */
async function stopAll(): Promise<void> {
  expectExits = true;
  running.control?.close();
  await Promise.allSettled(running.clients.map((c) => c.stop()));
  await running.cluster?.stop().catch(() => undefined);
  await running.redis?.stop();
  Object.assign(running, { redis: null, cluster: null, clients: [], control: null });
  expectExits = false;
}

function abort(why: unknown): void {
  if (stopping) {
    log(`while stopping: ${why instanceof Error ? why.message : String(why)}`);
    return;
  }
  stopping = true;
  teardown.abort();
  log(`aborting: ${why instanceof Error ? (why.stack ?? why.message) : String(why)}`);
  void stopAll().finally(() => process.exit(1));
}

// Last resort if a stop hangs: nothing of ours may outlive this process.
process.on('exit', () => {
  for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
});
process.on('uncaughtException', (error) => abort(error)); // still stop Redis and the children
process.on('SIGINT', () => abort('interrupted'));
process.on('SIGTERM', () => abort('terminated'));

/** Client processes for one server run (fresh ones per run: their sockets and tallies start empty). */
async function startClients(config: ScaleConfig): Promise<Proc<ClientCommands>[]> {
  running.clients = await Promise.all(Array.from({ length: config.clients }, (_, i) => Proc.spawn<ClientCommands>(`client${i + 1}`, scaleJs('client'))));
  log(`${config.clients} client processes, source addresses ${config.addresses.map((a) => a.join('+')).join(', ')}`);
  return running.clients;
}

/** Memory before, connect everyone, memory after: the same for both servers. */
async function connectPhase(b: Bench): Promise<{ before: Mem; after: Mem; connect: ConnectResult }> {
  const { connections } = b.config;
  await sleep(1000); // start-up garbage settles before the baseline
  const before = await workerMemory(b);
  log(`before: worker RSS ${fmt(before.rss / 2 ** 20)} MiB, heap ${fmt(before.heapUsed / 2 ** 20)} MiB (sums)`);
  const connect = await connectAll(b);
  log(`all ${fmt(connections)} open in ${fmt(connect.ms / 1000, 1)} s (${fmt(connect.perSecond)}/s); workers counted them after ${fmt(connect.serverMs / 1000, 1)} s`);
  log(`per worker: ${b.workers.map((w, i) => `n${w.nodeId} ${fmt(connect.perWorker[i] ?? 0)}`).join(', ')}`);
  await sleep(2000);
  const after = await workerMemory(b);
  log(`after: RSS ${fmt(after.rss / 2 ** 20)} MiB, heap ${fmt(after.heapUsed / 2 ** 20)} MiB: ${fmt((after.rss - before.rss) / connections)} B RSS and ${fmt((after.heapUsed - before.heapUsed) / connections)} B heap per connection`);
  return { before, after, connect };
}
type Mem = Awaited<ReturnType<typeof workerMemory>>;

async function timedBroadcasts(b: Bench, trigger: Trigger, label: string): Promise<BroadcastRun[]> {
  const runs: BroadcastRun[] = [];
  for (let seq = 1; seq <= b.config.broadcasts; seq++) {
    await sleep(1000);
    const run = await broadcastOnce(b, trigger, seq);
    runs.push(run);
    const { reply } = run;
    log(`broadcast ${seq} ${label}: last of ${fmt(run.received)} receipts after ${fmt(run.ms)} ms (${reply.pid === 0 ? 'every worker ran its loop' : 'broadcast() resolved'} after ${fmt(run.resolvedMs)} ms); sent ${fmt(reply.sent)}, failed ${reply.failed}, unreached ${reply.unreachedNodes}, duplicates ${run.duplicates}`);
    log(`  ${spread(b.workers, run)}; client processes' last receipts: ${run.byClientMs.map((t) => fmt(t)).join(', ')} ms`);
    if (reply.pid === 0) log(`  send loops per worker: ${lastLoopMs.map((t) => fmt(t)).join(', ')} ms`);
  }
  return runs;
}

const execArgv = (config: ScaleConfig): string[] => ['--expose-gc', ...(config.cpuProf ? ['--cpu-prof', '--cpu-prof-dir=bench/results/raw/scale-prof'] : [])];

/** The raw `ws` floor: the same workers, clients and connections; every worker loops over its clients at once. */
async function runRaw(config: ScaleConfig): Promise<RawResults> {
  const raw = await startRawWorkers(config.workers, scaleJs('raw-worker'), execArgv(config), (what) => (expectExits ? log(what) : abort(what)));
  log(`raw ws: ${raw.workers.length} node:cluster workers on port ${raw.port} (pids ${raw.workers.map((w) => w.pid).join(', ')})`);
  const b: Bench = { config, log, port: raw.port, workers: raw.workers, clients: await startClients(config), signal: teardown.signal };
  const { before, after, connect } = await connectPhase(b);
  const loopMs: number[][] = [];
  const runs = await timedBroadcasts(b, (seq, timeoutMs) => rawTrigger(raw, seq, timeoutMs).finally(() => loopMs.push(lastLoopMs)), 'from every raw ws worker');
  expectExits = true;
  await Promise.allSettled(running.clients.map((c) => c.stop()));
  running.clients = [];
  await stopRawWorkers(raw);
  expectExits = false;
  log('raw ws: clients and workers stopped');
  const { connections } = config;
  return {
    connections,
    connect,
    workers: raw.workers.map((w, i) => ({ ...w, connections: connect.perWorker[i] ?? 0 })),
    rssPerConn: (after.rss - before.rss) / connections,
    heapPerConn: (after.heapUsed - before.heapUsed) / connections,
    broadcasts: runs,
    loopMs,
  };
}

async function runWsactor(config: ScaleConfig): Promise<ScaleResults> {
  const { connections, workers } = config;
  const redis = (running.redis = await startRedis());
  log(`redis-server on 127.0.0.1:${redis.port}`);
  const handle = (running.cluster = runCluster({
    workers,
    host: '127.0.0.1',
    exec: scaleJs('worker'),
    execArgv: execArgv(config),
    args: [],
    env: { [REDIS_URL_ENV]: redis.url, [HEARTBEAT_ENV]: String(config.heartbeatMs) },
    redis: { url: redis.url, prefix: 'scale-bench' }, // the workers join through it; the primary only learns that they do
    handleSignals: false,
    maxRestarts: 0,
    startTimeoutMs: 60_000,
    stopTimeoutMs: 120_000, // closing ~12k clients per worker takes tens of seconds here
    onEvent: (event) => {
      if (event.type !== 'exit') return;
      const what = `worker ${event.worker.pid} (n${event.worker.nodeId ?? '?'}) exited (${String(event.code ?? event.signal)})`;
      if (stopping || expectExits) log(what);
      else abort(what);
    },
  }));
  const ready = await handle.ready;
  const nodes = [...ready.workers].sort((a, b) => a.nodeId - b.nodeId);
  log(`cluster on port ${ready.port}: nodes ${nodes.map((w) => `n${w.nodeId} (pid ${w.pid})`).join(', ')}`);
  const b: Bench = { config, log, port: ready.port, workers: nodes, clients: await startClients(config), signal: teardown.signal };
  const { before, after, connect } = await connectPhase(b);
  const first = nodes[0];
  if (first === undefined) throw new Error('no workers');
  const getClients = await askWorker(first.workerId, 'cluster');
  log(`getClients() on n${first.nodeId}: ${fmt(getClients.count)} ids in ${fmt(getClients.ms)} ms`);
  const rssPerConn = (after.rss - before.rss) / connections;
  const heapPerConn = (after.heapUsed - before.heapUsed) / connections;

  const idle = await idleCpu(b, config.quick ? 5000 : 10_000);
  log(`idle, heartbeat every ${config.heartbeatMs / 1000} s: workers use ${idle.workers.toFixed(2)} cores (${idle.workersSystem.toFixed(2)} of it in the kernel), client processes ${idle.clients.toFixed(2)}`);

  const control = (running.control = await Control.open(ready.port));
  const broadcastNode = nodes.find((w) => w.pid === control.workerPid)?.nodeId ?? 0;
  const runs = await timedBroadcasts(b, (seq, timeoutMs) => control.request(seq, timeoutMs), `from n${broadcastNode}`);
  if (control.stray > 0) log(`the control connection got ${control.stray} broadcast(s) it was excepted from`);
  control.close();
  // Does sending leave per-connection state behind (write buffers, woken actors)?
  const sentOnce = await workerMemory(b);
  const rssAfterBroadcasts = (sentOnce.rss - before.rss) / connections;
  const heapAfterBroadcasts = (sentOnce.heapUsed - before.heapUsed) / connections;
  log(`after the broadcasts: ${fmt(rssAfterBroadcasts)} B RSS and ${fmt(heapAfterBroadcasts)} B heap per connection`);

  log(`stopping the cluster with ${fmt(connections)} clients connected`);
  const stopStarted = performance.now();
  expectExits = true; // workers exiting from here on is expected
  await handle.stop();
  const stopMs = performance.now() - stopStarted;
  const closes = await closeCodes(b, connections);
  log(`cluster stopped in ${fmt(stopMs / 1000, 1)} s; close codes the clients saw: ${JSON.stringify(closes)}`);
  await stopAll();

  return {
    connections,
    clients: config.clients,
    inflight: config.inflight,
    connect: { ms: connect.ms, perSecond: connect.perSecond, serverMs: connect.serverMs, failedAttempts: connect.failedAttempts },
    workers: nodes.map((w, i) => ({ workerId: w.workerId, nodeId: w.nodeId, pid: w.pid, connections: connect.perWorker[i] ?? 0 })),
    memory: { rssBefore: before.rss, rssAfter: after.rss, heapBefore: before.heapUsed, heapAfter: after.heapUsed, rssPerConn, heapPerConn, rssAfterBroadcasts, heapAfterBroadcasts },
    getClients,
    idleCpu: { heartbeatMs: config.heartbeatMs, ...idle },
    broadcastNode,
    broadcasts: runs,
    stop: { ms: stopMs, closeCodes: closes },
  };
}

async function main(): Promise<void> {
  const config = parseConfig(process.argv.slice(2));
  const { connections, workers, clients } = config;
  setTimeout(() => abort(`overall timeout: ${config.timeoutMs / 1000} s`), config.timeoutMs).unref();
  const loadBefore = load();
  log(`scale bench (${config.servers.join(', then ')}): ${fmt(connections)} connections, ${workers} workers, ${clients} client processes; Node ${process.version}, ${availableParallelism()} cores, load ${loadBefore}`);
  buildScaleJs();
  log('compiled the workers and client to bench/results/raw/scale-js/');

  let raw: RawResults | null = null;
  let wsactor: ScaleResults | null = null;
  for (const server of config.servers) {
    if (server === 'raw') raw = await runRaw(config);
    else wsactor = await runWsactor(config);
  }
  await stopAll();

  if (wsactor !== null) console.log(`\n${table(wsactor)}\n`);
  if (raw !== null) console.log(`${rawLines(raw)}\n`);
  const seconds = Math.round((performance.now() - started) / 1000);
  const extra = { mode: config.quick ? 'quick' : 'full', date: new Date().toISOString(), node: process.version, seconds, loadAverage: { before: loadBefore, after: load() } };
  const rawMs = raw === null ? null : median(raw.broadcasts.map((r) => r.ms));
  const wsactorMs = wsactor === null ? null : median(wsactor.broadcasts.map((r) => r.ms));
  const ratio = rawMs === null || wsactorMs === null ? undefined : Math.round((wsactorMs / rawMs) * 100) / 100;
  const rawBlock = raw === null ? {} : { rawWs: rawJson(raw), ratioWsactorToRaw: ratio };
  if (wsactor !== null) writeResults(config.out, wsactor, { ...extra, ...rawBlock });
  else writeJson(config.out, { ...extra, ...rawBlock });
  if (rawMs !== null) log(`raw ws: median broadcast ${fmt(rawMs)} ms (${raw?.broadcasts.map((r) => fmt(r.ms)).join(' / ')})`);
  if (wsactorMs !== null) log(`wsactor: median broadcast ${fmt(wsactorMs)} ms (${wsactor?.broadcasts.map((r) => fmt(r.ms)).join(' / ')})`);
  if (ratio !== undefined) log(`ratio wsactor / raw ws: ${ratio.toFixed(2)}`);
  log(`${seconds} s in all; results written to ${config.out}`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => abort(error),
);
