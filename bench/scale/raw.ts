/**
 * Primary side of `--server raw`: W node:cluster workers each running raw-worker.ts (a minimal
 * `ws` server) on one port, and the broadcast trigger: one IPC message to every worker, sent in
 * one loop, the send time taken just before it.
 */
import cluster from 'node:cluster';
import { once } from 'node:events';
import type { ClusterWorker } from '../../src/cluster/cluster.js';
import { wallMs, type BroadcastReply } from './protocol.js';
import { askWorker } from './workers.js';

export interface RawCluster {
  port: number;
  workers: ClusterWorker[];
}

/** Forks the workers; `onExit` hears of any that exits. Node ids are 1..W (labels only). */
export async function startRawWorkers(count: number, exec: string, execArgv: string[], onExit: (what: string) => void): Promise<RawCluster> {
  cluster.schedulingPolicy = cluster.SCHED_RR; // Linux's default; read at the first fork
  cluster.setupPrimary({ exec, execArgv, args: [] });
  const forked = Array.from({ length: count }, () => cluster.fork());
  for (const w of forked) w.once('exit', (code: number | null, signal: string | null) => onExit(`raw worker ${w.process.pid} exited (${String(code ?? signal)})`));
  const addresses = await Promise.all(forked.map(async (w) => ((await once(w, 'listening')) as [{ port: number }])[0]));
  return { port: addresses[0]?.port ?? 0, workers: forked.map((w, i) => ({ pid: w.process.pid ?? 0, workerId: w.id, nodeId: i + 1 })) };
}

export async function stopRawWorkers(raw: RawCluster): Promise<void> {
  await Promise.all(
    raw.workers.map(async ({ workerId }) => {
      const worker = cluster.workers?.[workerId];
      if (worker === undefined || worker.isDead()) return;
      const exited = once(worker, 'exit');
      worker.process.kill('SIGKILL');
      await exited;
    }),
  );
}

/** Per-worker send-loop times of the last trigger, in worker order. */
export let lastLoopMs: number[] = [];

/** Triggers broadcast `seq` in every worker at once; resolves when every worker ran its loop. */
export async function rawTrigger(raw: RawCluster, seq: number, timeoutMs: number): Promise<BroadcastReply> {
  const sendMs = wallMs();
  const acks = await Promise.all(raw.workers.map((w) => askWorker(w.workerId, 'broadcast', timeoutMs, { seq, sendMs })));
  const resolvedMs = wallMs();
  lastLoopMs = acks.map((a) => a.loopMs);
  const sent = acks.reduce((a, r) => a + r.sent, 0);
  return { seq, pid: 0, sendMs, resolvedMs, sent, distinctSent: sent, failed: 0, unreachedNodes: 0 };
}
