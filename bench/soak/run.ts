/**
 * `npm run soak [-- --quick | --duration 600 --clients 5000 --workers 1 --server wsactor|raw]`:
 * an endurance run with churn, hostile clients and (cluster mode) injected faults; checks that
 * every message is answered or counted, that memory and fds do not grow, and draws a chart.
 * See bench/README.md ("Soak"). This process is the cluster primary in cluster mode; servers
 * and client processes run compiled JavaScript under plain node.
 */
import { fork, type ChildProcess } from 'node:child_process';
import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { runCluster, type ClusterHandle } from '../../src/cluster/cluster.js';
import { startRedis, type TestRedis } from '../../test/helpers/redis-server.js';
import { Proc } from '../lib/ipc.js';
import { sleep } from '../lib/protocol.js';
import { buildSoakJs, soakJs } from './build.js';
import { drawChart, type Fault, type Series } from './chart.js';
import { heapGrowth, type Growth } from './heap-diff.js';
import { addressesFor, isSoak, TAG, type BroadcastOutcome, type ClientCommands, type ClientRecord, type ClientTotals, type LedgerEntry, type ServerCommands, type ServerSample } from './protocol.js';
import { reconcile } from './reconcile.js';

// ---- options ---------------------------------------------------------------------------------

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    quick: { type: 'boolean', default: false },
    duration: { type: 'string' },
    clients: { type: 'string' },
    workers: { type: 'string', default: '1' },
    server: { type: 'string', default: 'wsactor' },
    procs: { type: 'string' },
    rate: { type: 'string' },
    churn: { type: 'string' },
    'broadcast-ms': { type: 'string', default: '2000' },
    'sample-ms': { type: 'string' },
    faults: { type: 'string', default: 'all' },
    burst: { type: 'string' },
    'stop-s': { type: 'string' },
    'heap-snapshot': { type: 'boolean', default: false },
    out: { type: 'string', default: 'bench/results/soak-latest' },
  },
});
function num(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const v = Number(text);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number, got ${text}`);
  return v;
}
const quick = values.quick;
const server = values.server;
if (server !== 'wsactor' && server !== 'raw') throw new Error(`--server must be wsactor or raw, got ${server}`);
const durationS = num('duration', values.duration, quick ? 60 : 600);
const clients = Math.round(num('clients', values.clients, quick ? 500 : 5000));
const workers = Math.round(num('workers', values.workers, 1));
const procs = Math.round(num('procs', values.procs, Math.max(2, Math.ceil(clients / 1500))));
const rate = num('rate', values.rate, quick ? 1 : 0.5);
const churn = num('churn', values.churn, clients / 200);
const broadcastMs = num('broadcast-ms', values['broadcast-ms'], 2000);
const sampleMs = num('sample-ms', values['sample-ms'], quick ? 2000 : 5000);
const burstN = Math.round(num('burst', values.burst, quick ? 300 : 1000));
const faultsOn = values.faults !== 'none';
/** How long the SIGSTOP fault keeps one client process stopped: several heartbeat periods. */
const stopS = num('stop-s', values['stop-s'], quick ? 12 : 15);
const heapSnapshots = values['heap-snapshot'];
const out = values.out;
if (clients / procs > 15_000) throw new Error('too many clients per client process: raise --procs');
if (clients / workers > 15_000) throw new Error('too many clients per worker: raise --workers');
/** Warm-up excluded from the slopes: the ramp, the JIT, the first old-space growth. */
const warmupS = quick ? 20 : Math.min(120, durationS * 0.2);
const SLOPE_LIMIT = { heap: 2, rss: 8 }; // MiB per 10 min
const ELD_LIMIT_MS = 50;
const FD_SLACK = 2;

const started = Date.now();
const since = (): number => (Date.now() - started) / 1000;
function log(line: string): void {
  console.log(`[${since().toFixed(1).padStart(6)}s] ${line}`);
}
const mib = (b: number): number => Math.round((b / 2 ** 20) * 10) / 10;

// ---- servers ---------------------------------------------------------------------------------

type Link = ChildProcess | Worker;
interface Srv {
  pid: number;
  link: Link;
}
let standalone: ChildProcess | null = null;
let handle: ClusterHandle | null = null;
let redis: TestRedis | null = null;
let clientProcs: Proc<ClientCommands>[] = [];
let stopping = false;
/** The client process stopped by the SIGSTOP fault, while it is stopped. */
let stoppedProc: Proc<ClientCommands> | null = null;
let stoppedPid = 0;
const lastTotals = new Map<Proc<ClientCommands>, ClientTotals>();
const killedPids = new Set<string>();
const unexpectedExits: string[] = [];
let nextId = 1;

function servers(): Srv[] {
  if (standalone !== null) return standalone.exitCode === null ? [{ pid: standalone.pid ?? 0, link: standalone }] : [];
  return Object.values(cluster.workers ?? {})
    .filter((w): w is Worker => w !== undefined && !w.isDead() && w.isConnected())
    .map((w) => ({ pid: w.process.pid ?? 0, link: w }));
}

function ask<K extends keyof ServerCommands>(s: Srv, cmd: K, arg: ServerCommands[K]['req'], timeoutMs = 30_000): Promise<ServerCommands[K]['res']> {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const onMessage = (raw: unknown): void => {
      if (!isSoak(raw) || raw.id !== id) return;
      done();
      if (raw.error !== undefined) reject(new Error(`server ${s.pid}: ${cmd}: ${raw.error}`));
      else resolve(raw.result as ServerCommands[K]['res']);
    };
    const onExit = (): void => {
      done();
      reject(new Error(`server ${s.pid} exited`));
    };
    const done = (): void => {
      clearTimeout(timer);
      s.link.off('message', onMessage);
      s.link.off('exit', onExit);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`server ${s.pid}: ${cmd} timed out`));
    }, timeoutMs);
    s.link.on('message', onMessage);
    s.link.once('exit', onExit);
    s.link.send({ tag: TAG, id, cmd, arg });
  });
}

function onServerExit(pid: number, what: string): void {
  if (stopping || killedPids.has(String(pid))) return;
  unexpectedExits.push(`${pid}: ${what}`);
  log(`server ${pid} exited unexpectedly (${what})`);
}

async function startServers(): Promise<number> {
  const execArgv = ['--expose-gc'];
  if (workers === 1) {
    const child = fork(soakJs(server === 'raw' ? 'raw-server' : 'server'), [], { execArgv, env: { ...process.env, SOAK_STANDALONE: '1' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    standalone = child;
    child.once('exit', (code, signal) => onServerExit(child.pid ?? 0, String(code ?? signal)));
    const [ready] = (await Promise.race([once(child, 'message'), sleep(30_000).then(() => [null])])) as [{ ready?: { port: number } } | null];
    if (ready?.ready === undefined) throw new Error('the server did not start');
    return ready.ready.port;
  }
  if (server === 'raw') {
    cluster.schedulingPolicy = cluster.SCHED_RR;
    cluster.setupPrimary({ exec: soakJs('raw-server'), execArgv, args: [] });
    const forked = Array.from({ length: workers }, () => forkRaw());
    const ports = await Promise.all(forked.map(async (w) => ((await once(w, 'listening')) as [{ port: number }])[0].port));
    return ports[0] ?? 0;
  }
  redis = await startRedis();
  log(`redis-server on 127.0.0.1:${redis.port}`);
  handle = runCluster({
    workers,
    host: '127.0.0.1',
    exec: soakJs('server'),
    execArgv,
    args: [],
    env: { SOAK_REDIS_URL: redis.url },
    redis: { url: redis.url, prefix: 'soak' },
    handleSignals: false,
    maxRestarts: 5,
    onEvent: (event) => {
      if (event.type === 'exit') onServerExit(event.worker.pid, `${String(event.code ?? event.signal)}${event.respawned ? ', replaced' : ''}`);
      if (event.type === 'ready' && !stopping) log(`worker ${event.worker.pid} ready (node ${event.worker.nodeId})`);
    },
  });
  return (await handle.ready).port;
}

function forkRaw(): Worker {
  const w = cluster.fork();
  w.once('exit', (code: number | null, signal: string | null) => onServerExit(w.process.pid ?? 0, String(code ?? signal)));
  return w;
}

/** Every client process's totals; the stopped one's last known ones (it cannot answer). */
function clientTotals(): Promise<(ClientTotals | null)[]> {
  return Promise.all(
    clientProcs.map((c) =>
      c === stoppedProc
        ? Promise.resolve(lastTotals.get(c) ?? null)
        : c.request('totals', null, 10_000).then(
            (t) => {
              lastTotals.set(c, t);
              return t;
            },
            () => null,
          ),
    ),
  );
}

function continueStopped(): void {
  if (stoppedPid === 0) return;
  try {
    process.kill(stoppedPid, 'SIGCONT');
  } catch {
    // gone
  }
}

async function stopAll(): Promise<void> {
  stopping = true;
  continueStopped();
  await Promise.allSettled(clientProcs.map((c) => c.stop()));
  clientProcs = [];
  if (standalone !== null && standalone.exitCode === null) {
    const exited = once(standalone, 'exit');
    standalone.disconnect();
    const timer = setTimeout(() => standalone?.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
  if (handle !== null) await handle.stop().catch(() => undefined);
  for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
  await redis?.stop();
  redis = null;
}

process.on('exit', () => {
  continueStopped();
  standalone?.kill('SIGKILL');
  for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
});
let aborting = false;
function abort(why: unknown): void {
  if (aborting) return;
  aborting = true;
  log(`aborting: ${why instanceof Error ? (why.stack ?? why.message) : String(why)}`);
  void stopAll().finally(() => process.exit(2));
}
process.on('SIGINT', () => abort('interrupted'));
process.on('SIGTERM', () => abort('terminated'));

// ---- the run ---------------------------------------------------------------------------------

interface Row extends ServerSample {
  s: number;
}
const rows: Row[] = [];
const clientRows: { s: number; open: number; sent: number; answered: number; broadcasts: number }[] = [];
const ledgers: LedgerEntry[] = [];
const broadcasts: BroadcastOutcome[] = [];
const faults: (Fault & { report: Record<string, unknown> })[] = [];
const baselineFds = new Map<number, number>();

async function sampleAll(): Promise<void> {
  const s = since();
  await Promise.all(
    servers().map(async (srv) => {
      try {
        const [sample, entries] = [await ask(srv, 'sample', null), await ask(srv, 'ledger', null)];
        rows.push({ ...sample, s });
        ledgers.push(...entries);
      } catch (error) {
        log(`sample: ${error instanceof Error ? error.message : String(error)}`);
      }
    }),
  );
  const totals = await clientTotals();
  const sum = (f: (t: ClientTotals) => number): number => totals.reduce((a, t) => a + (t === null ? 0 : f(t)), 0);
  clientRows.push({ s, open: sum((t) => t.open), sent: sum((t) => t.sent), answered: sum((t) => t.answered), broadcasts: sum((t) => t.broadcasts) });
}

let bseq = 0;
let broadcastBusy = false;
async function broadcastOnce(): Promise<void> {
  if (broadcastBusy) return;
  broadcastBusy = true;
  const list = servers();
  try {
    if (server === 'raw') {
      const seq = ++bseq;
      const outs = await Promise.all(list.map((s) => ask(s, 'broadcast', { bseq: seq })));
      broadcasts.push({ bseq: seq, sent: outs.reduce((a, o) => a + o.sent, 0), failed: {}, unreachedNodes: 0 });
    } else if (list[0] !== undefined) {
      const seq = ++bseq;
      broadcasts.push(await ask(list[0], 'broadcast', { bseq: seq }, 60_000));
    }
  } catch (error) {
    // The broadcast's number was used: receivers will see a hole, explained by this failure.
    broadcasts.push({ bseq, sent: 0, failed: { [error instanceof Error ? error.message : 'error']: 1 }, unreachedNodes: 1 });
  } finally {
    broadcastBusy = false;
  }
}

function lastRow(pid: number): Row | undefined {
  for (let i = rows.length - 1; i >= 0; i--) if (rows[i]?.pid === pid) return rows[i];
  return undefined;
}

async function faultBurst(): Promise<void> {
  const first = clientProcs[0];
  if (first === undefined) return;
  const t = since();
  log(`fault: a burst of ${burstN} connects at once`);
  const r = await first.request('burst', { n: burstN, holdMs: 5000 }, 120_000);
  log(`burst: ${r.opened} open in ${Math.round(r.ms)} ms, ${r.failed} failed`);
  faults.push({ t, label: `burst ${burstN}`, report: { ...r } });
}

async function faultKill(): Promise<void> {
  const list = servers();
  const victim = list[list.length - 1];
  if (victim === undefined || list.length < 2) return;
  const before = lastRow(victim.pid);
  const t = since();
  killedPids.add(String(victim.pid));
  log(`fault: kill -9 worker ${victim.pid} (${before?.open ?? '?'} clients)`);
  process.kill(victim.pid, 'SIGKILL');
  if (server === 'raw') {
    await sleep(200);
    forkRaw();
  }
  // Back when as many workers run again and the clients' open count is back to its target.
  const deadline = Date.now() + 60_000;
  let backMs = -1;
  while (Date.now() < deadline) {
    await sleep(500);
    const totals = await clientTotals();
    const open = totals.reduce((a, x) => a + (x?.open ?? 0), 0);
    if (servers().length >= workers && open >= clients) {
      backMs = (since() - t) * 1000;
      break;
    }
  }
  log(`kill: ${backMs < 0 ? 'not all back within 60 s' : `all clients back after ${(backMs / 1000).toFixed(1)} s`}`);
  faults.push({ t, label: 'kill -9 worker', report: { pid: victim.pid, clientsAffected: before?.open ?? null, backMs } });
}

async function faultRedis(): Promise<void> {
  if (redis === null) return;
  const t = since();
  const firstB = bseq + 1;
  log('fault: redis-server stopped');
  await redis.stop();
  await sleep(3000);
  await redis.restart();
  log('redis-server restarted');
  const deadline = Date.now() + 60_000;
  let recoveredMs = -1;
  while (Date.now() < deadline) {
    await sleep(500);
    const recent = broadcasts.filter((b) => b.bseq > bseq - 1 && b.bseq >= firstB);
    if (recent.length > 0 && recent.every((b) => b.unreachedNodes === 0) && since() - t > 4) {
      recoveredMs = (since() - t) * 1000;
      break;
    }
  }
  const during = broadcasts.filter((b) => b.bseq >= firstB);
  const unreached = during.filter((b) => b.unreachedNodes > 0).length;
  log(`redis: broadcasts complete again ${recoveredMs < 0 ? 'not within 60 s' : `${(recoveredMs / 1000).toFixed(1)} s after the stop`}; ${unreached} broadcast(s) with unreached nodes`);
  faults.push({ t, label: 'redis restart', report: { downMs: 3000, recoveredMs, broadcastsWithUnreachedNodes: unreached } });
}

/**
 * One client process (not the hostile one) is stopped with SIGSTOP for `stopS` seconds: its
 * sockets stop reading (and answering pings). Just before, two of its clients stop reading and
 * send 128 KiB messages (the outbound limit's case); every client it has open is marked. Reported:
 * the others' open count and answers/s before and during the stop, the time after SIGCONT until
 * the process has its clients again; the server's side (close codes, what was counted or
 * abandoned) comes from the accounting at the end.
 */
async function faultStop(): Promise<void> {
  const idx = clientProcs.length - 1;
  const victim = clientProcs[idx];
  if (victim === undefined || idx === 0) return;
  const others = clientProcs.filter((c) => c !== victim);
  const othersNow = async (): Promise<{ open: number; answered: number; s: number }> => {
    const t = await Promise.all(others.map((c) => c.request('totals', null, 10_000).catch(() => null)));
    return { open: t.reduce((a, x) => a + (x?.open ?? 0), 0), answered: t.reduce((a, x) => a + (x?.answered ?? 0), 0), s: since() };
  };
  const rate = (a: { answered: number; s: number }, b: { answered: number; s: number }): number => Math.round((b.answered - a.answered) / Math.max(0.001, b.s - a.s));
  const b0 = await othersNow();
  await sleep(10_000);
  const b1 = await othersNow();
  const slowCloses = (): number => servers().reduce((x, srv) => x + (lastRow(srv.pid)?.slowCloses ?? 0), 0);
  const slow0 = slowCloses();
  const mark = await victim.request('stopMark', { big: 2, bigLeadMs: 400 }, 10_000);
  const t = since();
  stoppedProc = victim;
  stoppedPid = mark.pid;
  process.kill(mark.pid, 'SIGSTOP');
  log(`fault: client process ${mark.pid} stopped (SIGSTOP) for ${stopS} s with ${mark.marked} clients (2 of them sending 128 KiB messages, not reading)`);
  let openMin = Infinity;
  const d0 = await othersNow();
  let d1 = d0;
  while (since() - t < stopS) {
    await sleep(1000);
    d1 = await othersNow();
    openMin = Math.min(openMin, d1.open);
  }
  continueStopped();
  stoppedPid = 0;
  stoppedProc = null;
  const tc = since();
  faults.push({ t: tc, label: 'SIGCONT', report: { pid: mark.pid } });
  await victim.request('resumed', null, 10_000).catch(() => null);
  const target = Math.round(clients / procs);
  let backMs = -1;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const v = await victim.request('totals', null, 10_000).catch(() => null);
    if (v !== null && v.open >= target) {
      backMs = Math.round((since() - tc) * 1000);
      break;
    }
    await sleep(250);
  }
  const report = {
    pid: mark.pid,
    stopS,
    clientsStopped: mark.marked,
    others: { target: clients - target, openBefore: b1.open, openMinDuring: openMin, answersPerSBefore: rate(b0, b1), answersPerSDuring: rate(d0, d1) },
    backMsAfterSigcont: backMs,
    // Outbound-limit (1008 slow consumer) closes in the servers from just before the stop to
    // the last sample now (the hostile slow reader adds about one per 20 s).
    serverSlowConsumerCloses: slowCloses() - slow0,
  };
  log(`SIGCONT: others ${JSON.stringify(report.others)}; the stopped process has its ${target} clients again ${backMs < 0 ? 'not within 60 s' : `${(backMs / 1000).toFixed(1)} s after SIGCONT`}`);
  faults.splice(faults.length - 1, 0, { t, label: `SIGSTOP client proc ${stopS} s`, report });
}

async function snapshots(when: 'before' | 'after'): Promise<void> {
  mkdirSync('bench/results/raw', { recursive: true });
  await Promise.all(
    servers().map(async (s) => {
      try {
        const r = await ask(s, 'snapshot', { path: `bench/results/raw/soak-${s.pid}-${when}.heapsnapshot` }, 120_000);
        log(`heap snapshot ${when}: ${r.path} (${r.ms} ms)`);
      } catch (error) {
        log(`heap snapshot ${when}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }),
  );
}

// ---- verdicts --------------------------------------------------------------------------------

interface Slope {
  perTenMin: number;
  noise: number;
  n: number;
  /** MiB per open connection, when the fit took the connection count into account. */
  perConnKiB: number | null;
}

/** Solves A x = b (3x3, Gauss); null if singular. */
function solve3(a: number[][], b: number[]): number[] | null {
  const m = a.map((row, i) => [...row, b[i] ?? 0]);
  for (let c = 0; c < 3; c++) {
    let p = c;
    for (let r = c + 1; r < 3; r++) if (Math.abs(m[r]?.[c] ?? 0) > Math.abs(m[p]?.[c] ?? 0)) p = r;
    [m[c], m[p]] = [m[p] ?? [], m[c] ?? []];
    const pivot = m[c]?.[c] ?? 0;
    if (Math.abs(pivot) < 1e-12) return null;
    for (let r = 0; r < 3; r++) {
      if (r === c) continue;
      const f = (m[r]?.[c] ?? 0) / pivot;
      for (let k = c; k < 4; k++) (m[r] as number[])[k] = (m[r]?.[k] ?? 0) - f * (m[c]?.[k] ?? 0);
    }
  }
  return m.map((row, i) => (row[3] ?? 0) / (row[i] ?? 1));
}

/**
 * Least-squares slope of memory over time, in MiB per 10 minutes, with the open connection
 * count as a second regressor (y = a + b t + c open) so that clients moving between workers
 * (after a kill) or a burst do not read as a leak; plain y = a + b t when the count hardly
 * varies. Noise: two standard errors of b (about a 95% bound).
 */
function slope(points: [number, number, number][]): Slope | null {
  const n = points.length;
  if (n < 6) return null;
  const opens = points.map((p) => p[2]);
  const withConn = Math.max(...opens) - Math.min(...opens) > 0.05 * Math.max(1, ...opens);
  const rows3 = points.map(([t, y, o]) => [1, t, withConn ? o : 0, y] as const);
  const k = withConn ? 3 : 2;
  const xtx = [0, 1, 2].map((i) => [0, 1, 2].map((j) => rows3.reduce((acc, r) => acc + (r[i] ?? 0) * (r[j] ?? 0), 0)));
  if (!withConn) (xtx[2] as number[])[2] = 1;
  const xty = [0, 1, 2].map((i) => rows3.reduce((acc, r) => acc + (r[i] ?? 0) * r[3], 0));
  const beta = solve3(xtx, xty);
  if (beta === null) return null;
  const res = rows3.reduce((acc, r) => acc + (r[3] - (beta[0] ?? 0) - (beta[1] ?? 0) * r[1] - (beta[2] ?? 0) * r[2]) ** 2, 0);
  const sigma2 = res / Math.max(1, n - k);
  const inv = solve3(xtx, [0, 1, 0]); // second column of (X'X)^-1
  const se = Math.sqrt(Math.max(0, sigma2 * (inv?.[1] ?? 0)));
  const r2 = (v: number): number => Math.round(v * 100) / 100;
  return { perTenMin: r2((beta[1] ?? 0) * 600), noise: r2(2 * se * 600), n, perConnKiB: withConn ? r2((beta[2] ?? 0) * 1024) : null };
}

function downsample<T>(list: T[], max: number): T[] {
  if (list.length <= max) return list;
  const step = list.length / max;
  return Array.from({ length: max }, (_, i) => list[Math.floor(i * step)] as T).concat(list.slice(-1));
}

async function main(): Promise<void> {
  const loadBefore = loadavg()[0] ?? 0;
  log(`soak (${server}): ${durationS} s, ${clients} clients from ${procs} processes, ${workers} worker(s), ${rate} msg/s per client, churn ${churn}/s, broadcast every ${broadcastMs} ms; Node ${process.version}, ${availableParallelism()} cores, load ${loadBefore.toFixed(2)}`);
  buildSoakJs();
  const port = await startServers();
  log(`${server} on 127.0.0.1:${port}: pids ${servers().map((s) => s.pid).join(', ')}`);
  await sleep(1000);
  await sampleAll();
  for (const r of rows) baselineFds.set(r.pid, r.fds);
  log(`baseline: ${rows.map((r) => `pid ${r.pid}: ${r.fds} fds, heap ${mib(r.heapUsed)} MiB, RSS ${mib(r.rss)} MiB`).join('; ')}`);

  const silentHoldMs = 15_000;
  clientProcs = await Promise.all(Array.from({ length: procs }, (_, i) => Proc.spawn<ClientCommands>(`client${i + 1}`, soakJs('client'))));
  await Promise.all(
    clientProcs.map((c, i) =>
      c.request('start', {
        port,
        addresses: addressesFor(i, 2),
        target: Math.round(clients / procs),
        rate,
        churn: churn / procs,
        hostile: i === 0,
        prefix: `p${i}-`,
        silentHoldMs,
      }),
    ),
  );
  log(`${procs} client processes started`);

  const plan: { at: number; run: () => Promise<void> }[] = [];
  if (faultsOn) {
    plan.push({ at: durationS * 0.3, run: faultBurst });
    if (workers > 1) plan.push({ at: durationS * 0.5, run: faultKill });
    if (workers > 1 && redis !== null) plan.push({ at: durationS * 0.7, run: faultRedis });
    // Cluster: after the Redis restart; one process: where the kill would be.
    plan.push({ at: durationS * (workers > 1 ? 0.8 : 0.5), run: faultStop });
  }
  if (heapSnapshots) plan.push({ at: warmupS, run: () => snapshots('before') });
  const bTimer = setInterval(() => void broadcastOnce(), broadcastMs);
  let nextSample = since() + sampleMs / 1000;
  let lastLog = 0;
  const faultRuns: Promise<void>[] = [];
  while (since() < durationS) {
    await sleep(Math.max(50, (nextSample - since()) * 1000));
    nextSample += sampleMs / 1000;
    await sampleAll();
    const due = plan.filter((p) => p.at <= since());
    for (const p of due) {
      plan.splice(plan.indexOf(p), 1);
      faultRuns.push(p.run().catch((error: unknown) => log(`fault failed: ${error instanceof Error ? error.message : String(error)}`)));
    }
    if (since() - lastLog >= (quick ? 10 : 30)) {
      lastLog = since();
      const c = clientRows[clientRows.length - 1];
      const prev = clientRows[Math.max(0, clientRows.length - 1 - Math.round(10_000 / sampleMs))];
      const perS = c !== undefined && prev !== undefined && c.s > prev.s ? Math.round((c.answered - prev.answered) / (c.s - prev.s)) : 0;
      const now = rows.filter((r) => r.s === rows[rows.length - 1]?.s);
      log(`clients open ${c?.open ?? 0}, answers ${perS}/s; ${now.map((r) => `pid ${r.pid}: open ${r.open}, closing ${r.closing}, heap ${mib(r.heapUsed)} MiB, RSS ${mib(r.rss)} MiB, fds ${r.fds}, eld p99 ${r.eldP99.toFixed(1)} ms`).join('; ')}`);
    }
  }
  clearInterval(bTimer);
  await Promise.all(faultRuns);
  while (broadcastBusy) await sleep(50);
  if (heapSnapshots) await snapshots('after');

  log('time is up: clients drain and close');
  const records: ClientRecord[] = (await Promise.all(clientProcs.map((c) => c.request('finish', { drainMs: 20_000 }, 60_000)))).flat();
  // Everyone left: wait (bounded) until the servers ran every onClose, then the final samples.
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    await sleep(1000);
    await sampleAll();
    const last = servers().map((s) => lastRow(s.pid));
    if (last.every((r) => r !== undefined && r.open === 0 && r.closing === 0)) break;
  }
  await sleep(1000);
  await sampleAll();
  const finalRows = servers().map((s) => lastRow(s.pid)).filter((r): r is Row => r !== undefined);
  await stopAll();
  const loadAfter = loadavg()[0] ?? 0;

  // ---- accounting and verdicts ----
  const acc = reconcile(records, ledgers, killedPids, broadcasts);
  const pids = [...new Set(rows.map((r) => r.pid))];
  const perWorker = pids.map((pid) => {
    const mine = rows.filter((r) => r.pid === pid);
    // A worker that replaced a killed one has its own warm-up (JIT, old space, clients moving in).
    const born = mine[0]?.s ?? 0;
    const from = born < warmupS / 2 ? warmupS : born + warmupS;
    const steady = mine.filter((r) => r.s >= from && r.s <= durationS);
    const heap = slope(steady.map((r) => [r.s, r.heapUsed / 2 ** 20, r.open]));
    const rss = slope(steady.map((r) => [r.s, r.rss / 2 ** 20, r.open]));
    const p99s = mine.filter((r) => r.s <= durationS && r.open > 0).map((r) => r.eldP99).sort((a, b) => a - b);
    const fin = finalRows.find((r) => r.pid === pid);
    const base = baselineFds.get(pid);
    return {
      pid,
      killed: killedPids.has(String(pid)),
      samples: mine.length,
      slopeFrom: Math.round(from),
      heapSlope: heap,
      rssSlope: rss,
      eldP99Median: p99s[Math.floor(p99s.length / 2)] ?? null,
      eldP99Worst: p99s[p99s.length - 1] ?? null,
      fds: { baseline: base ?? null, final: fin?.fds ?? null },
      errors: mine[mine.length - 1]?.errors ?? 0,
      server: { dropped: fin?.dropped ?? null, slowConsumerCloses: fin?.slowCloses ?? null, ratePauses: fin?.ratePauses ?? null, gaps: fin?.gaps ?? null, publishFailed: fin?.publishFailed ?? null },
    };
  });

  const verdicts: { name: string; ok: boolean; line: string }[] = [];
  verdicts.push({ name: 'lost', ok: acc.lost === 0, line: `lost ${acc.lost}${acc.lost > 0 ? ` (${JSON.stringify(acc.lostBy)})` : ''} of ${acc.sent} messages sent on ${acc.connections} connections` });
  for (const w of perWorker) {
    for (const [kind, s, limit] of [['heap', w.heapSlope, SLOPE_LIMIT.heap], ['RSS', w.rssSlope, SLOPE_LIMIT.rss]] as const) {
      if (s === null) {
        verdicts.push({ name: `${kind} slope ${w.pid}`, ok: true, line: `${kind} slope pid ${w.pid}: too few samples after the warm-up (${w.killed ? 'killed' : 'short life'})` });
        continue;
      }
      const growing = s.perTenMin > limit && s.perTenMin - s.noise > 0;
      const flat = s.perTenMin + s.noise <= limit;
      // A slope over less than 5 minutes, or of a worker killed on purpose, is shown but judges nothing.
      const judged = durationS >= 300 && !w.killed;
      const conn = s.perConnKiB === null ? '' : `, fitted with the open count: ${s.perConnKiB} KiB per connection`;
      verdicts.push({
        name: `${kind} slope ${w.pid}`,
        ok: !growing || !judged,
        line: `${kind} slope pid ${w.pid} from ${w.slopeFrom} s (after ${warmupS} s warm-up${w.slopeFrom > warmupS ? ' of its own: a replacement worker' : ''}), after gc(): ${s.perTenMin} ± ${s.noise} MiB per 10 min (${s.n} samples${conn}; limit ${limit}: ${growing ? 'GROWING' : flat ? 'flat' : 'not shown flat: noise too large'}${judged ? '' : w.killed ? '; killed worker, not judged' : '; run under 5 min, not judged'})`,
      });
    }
    if (!w.killed && w.fds.baseline !== null && w.fds.final !== null) {
      const ok = w.fds.final <= w.fds.baseline + FD_SLACK;
      verdicts.push({ name: `fds ${w.pid}`, ok, line: `fds pid ${w.pid}: ${w.fds.baseline} before the clients, ${w.fds.final} after all left (slack ${FD_SLACK})` });
    }
    if (!w.killed && w.eldP99Median !== null) {
      verdicts.push({ name: `eld ${w.pid}`, ok: w.eldP99Median <= ELD_LIMIT_MS, line: `event-loop delay pid ${w.pid}: p99 per ${sampleMs / 1000} s window, median ${w.eldP99Median.toFixed(1)} ms, worst ${w.eldP99Worst?.toFixed(1)} ms (limit on the median ${ELD_LIMIT_MS} ms)` });
    }
  }
  const errors = perWorker.reduce((a, w) => a + w.errors, 0);
  verdicts.push({ name: 'errors', ok: errors === 0, line: `unhandled errors in the servers: ${errors}` });
  verdicts.push({ name: 'crashes', ok: unexpectedExits.length === 0, line: `server crashes not injected: ${unexpectedExits.length}${unexpectedExits.length > 0 ? ` (${unexpectedExits.join('; ')})` : ''}; injected: ${killedPids.size}` });

  const stopFault = faults.find((f) => f.label.startsWith('SIGSTOP'));
  if (stopFault !== undefined) stopFault.report.accounting = acc.stopped;

  // Heap snapshots: where a heap slope is not flat (significantly above zero), what grew.
  const heapGrowths: { pid: number; slope: string; totalBefore: number; totalAfter: number; growth: Growth[] }[] = [];
  if (heapSnapshots) {
    for (const w of perWorker) {
      const [before, after] = (['before', 'after'] as const).map((when) => `bench/results/raw/soak-${w.pid}-${when}.heapsnapshot`);
      const s = w.heapSlope;
      if (s === null || w.killed || before === undefined || after === undefined || !existsSync(before) || !existsSync(after)) continue;
      if (s.perTenMin - s.noise <= 0) {
        log(`heap pid ${w.pid}: slope ${s.perTenMin} ± ${s.noise} MiB per 10 min is flat; snapshots not compared`);
        continue;
      }
      try {
        heapGrowths.push({ pid: w.pid, slope: `${s.perTenMin} ± ${s.noise}`, ...heapGrowth(before, after) });
      } catch (error) {
        log(`heap diff pid ${w.pid}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }

  // ---- report ----
  console.log('');
  console.log(`accounting: ${acc.sent} sent, ${acc.answered} answered; counted by the server: ${acc.serverCounted.dropped} dropped, replies failed ${JSON.stringify(acc.serverCounted.replyFailed)}; abandoned by resetting clients: ${acc.abandoned.beforeRead} before the server read them, ${acc.abandoned.answerUnread} answers unread; slow reader closed by the server: ${acc.abandoned.afterServerClose} sent after, ${acc.abandoned.slowAnswerUnread} answers unread; stopped clients closed by the server: ${acc.stopped.neverRead} never read, ${acc.stopped.answerUnread} answers unread; on killed workers: ${acc.crash.unanswered} unanswered on ${acc.crash.connections} connections`);
  console.log(`broadcasts: ${bseq} sent, ${acc.broadcasts.received} receipts, holes ${acc.broadcasts.holes} (${acc.broadcasts.explainedHoles} explained by a failed or unreached broadcast)`);
  console.log(`connections by how they ended: ${JSON.stringify(acc.closesByMode)}; server close codes: ${JSON.stringify(acc.serverCloseCodes)}; missing ledgers ${acc.missingLedgers}, ledgers without a client record ${acc.ledgersWithoutClient}`);
  for (const e of acc.examples.slice(0, 4)) console.log(`  loss example (${e.why}): ${JSON.stringify(e.record)} server ${JSON.stringify(e.ledger)}`);
  for (const f of faults) console.log(`fault at ${f.t.toFixed(0)} s, ${f.label}: ${JSON.stringify(f.report)}`);
  for (const h of heapGrowths) {
    console.log(`heap pid ${h.pid} (slope ${h.slope} MiB per 10 min): ${mib(h.totalBefore)} MiB before the churn phase, ${mib(h.totalAfter)} MiB after; grew most:`);
    for (const g of h.growth) console.log(`  +${(g.bytes / 1024).toFixed(0)} KiB, ${g.count >= 0 ? '+' : ''}${g.count} ${g.name.slice(0, 80)}${g.retainers.length > 0 ? `; held by ${g.retainers.map((r) => `${r.via.slice(0, 60)} (+${(r.bytes / 1024).toFixed(0)} KiB)`).join(', ')}` : ''}`);
  }
  for (const v of verdicts) console.log(`${v.ok ? 'ok  ' : 'FAIL'} ${v.line}`);
  console.log(`load average ${loadBefore.toFixed(2)} -> ${loadAfter.toFixed(2)}`);

  const tMax = Math.max(durationS, ...rows.map((r) => r.s));
  const colors = ['#1f77b4', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
  const memSeries: Series[] = [];
  const connSeries: Series[] = [];
  const rateSeries: Series[] = [];
  pids.forEach((pid, i) => {
    const mine = rows.filter((r) => r.pid === pid);
    const color = colors[i % colors.length] ?? '#000';
    const name = pids.length > 1 ? `w${i + 1}` : server;
    memSeries.push({ label: `${name} RSS`, color, points: mine.map((r) => [r.s, mib(r.rss)]) });
    memSeries.push({ label: `${name} heap (gc)`, color, dashed: true, points: mine.map((r) => [r.s, mib(r.heapUsed)]) });
    connSeries.push({ label: `${name} open`, color, points: mine.map((r) => [r.s, r.open]) });
    connSeries.push({ label: `${name} closing`, color, dashed: true, points: mine.map((r) => [r.s, r.closing]) });
    rateSeries.push({
      label: `${name} msgs in/s`,
      color,
      points: mine.slice(1).map((r, k) => [r.s, Math.max(0, (r.delivered - (mine[k]?.delivered ?? 0)) / Math.max(0.001, r.s - (mine[k]?.s ?? 0)))]),
    });
  });
  connSeries.push({ label: 'clients: open', color: '#ff7f0e', points: clientRows.map((c) => [c.s, c.open]) });
  rateSeries.push({ label: 'clients: answers/s', color: '#ff7f0e', points: clientRows.slice(1).map((c, k) => [c.s, Math.max(0, (c.answered - (clientRows[k]?.answered ?? 0)) / Math.max(0.001, c.s - (clientRows[k]?.s ?? 0)))]) });
  const failed = verdicts.filter((v) => !v.ok);
  const svg = drawChart(
    `soak: ${server}, ${workers} worker(s), ${clients} clients, ${Math.round(durationS)} s`,
    `${new Date(started).toISOString().slice(0, 16)}Z; lost ${acc.lost} of ${acc.sent}; ${failed.length === 0 ? 'all verdicts ok' : `FAILED: ${failed.map((v) => v.name).join(', ')}`}; load ${loadBefore.toFixed(1)} -> ${loadAfter.toFixed(1)}`,
    tMax,
    [
      { title: 'Memory per server process, after gc()', unit: 'MiB', series: memSeries },
      { title: 'Connections', unit: 'count', series: connSeries },
      { title: 'Throughput', unit: 'messages/s', series: rateSeries },
    ],
    faults,
  );
  const result = {
    date: new Date(started).toISOString(),
    node: process.version,
    cores: availableParallelism(),
    loadAverage: { before: Math.round(loadBefore * 100) / 100, after: Math.round(loadAfter * 100) / 100 },
    config: { server, quick, durationS, clients, workers, procs, rate, churn, broadcastMs, sampleMs, burst: burstN, faults: faultsOn, stopS, heapSnapshots, warmupS, seconds: Math.round(since()) },
    verdicts: verdicts.map((v) => ({ ok: v.ok, line: v.line })),
    ok: failed.length === 0,
    accounting: { ...acc, examples: acc.examples.slice(0, 2) },
    broadcastsSent: bseq,
    faults,
    heapGrowth: heapGrowths,
    workers: perWorker,
    // Downsampled: [s, rss MiB, heap MiB, external MiB, arrayBuffers MiB, fds, open, closing, eld p99 ms, delivered]
    samples: Object.fromEntries(
      pids.map((pid) => [
        pid,
        downsample(
          rows.filter((r) => r.pid === pid),
          40,
        ).map((r) => [Math.round(r.s), mib(r.rss), mib(r.heapUsed), mib(r.external), mib(r.arrayBuffers), r.fds, r.open, r.closing, Math.round(r.eldP99 * 10) / 10, r.delivered]),
      ]),
    ),
  };
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(`${out}.json`, `${JSON.stringify(result)}\n`);
  writeFileSync(`${out}.svg`, svg);
  log(`results: ${out}.json, chart: ${out}.svg; ${failed.length === 0 ? 'all verdicts ok' : `${failed.length} verdict(s) failed`}`);
  process.exit(failed.length === 0 ? 0 : 1);
}

setTimeout(() => abort(`overall timeout (${durationS + 240} s)`), (durationS + 240) * 1000).unref();
main().catch((error: unknown) => abort(error));
