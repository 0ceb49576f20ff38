/** The measured steps of the scale bench: connect everyone, memory, one broadcast. */
import { once } from 'node:events';
import { WebSocket } from 'ws';
import type { ClusterWorker } from '../../src/cluster/cluster.js';
import type { Proc } from '../lib/ipc.js';
import { sleep } from '../lib/protocol.js';
import type { ScaleConfig } from './config.js';
import { broadcastCommand, WORKER_HEADER, type BroadcastReply, type ClientCommands, type CpuTime, type MemInfo } from './protocol.js';
import { askWorker, rssOf } from './workers.js';

export interface Bench {
  readonly config: ScaleConfig;
  readonly log: (line: string) => void;
  readonly port: number;
  readonly workers: readonly ClusterWorker[];
  readonly clients: readonly Proc<ClientCommands>[];
  /** Aborted when the run is being torn down: no more requests to children. */
  readonly signal: AbortSignal;
}

export const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

export interface ConnectResult {
  ms: number;
  perSecond: number;
  /** Until every worker counted its share (onOpen done), from the same start. */
  serverMs: number;
  failedAttempts: number;
  /** Connections per worker as the workers count them, in worker order. */
  perWorker: number[];
}

export async function connectAll(b: Bench): Promise<ConnectResult> {
  const { connections, clients, inflight, addresses } = b.config;
  const started = performance.now();
  let last = { at: started, count: 0 };
  let polling = false;
  const progress = setInterval(() => {
    if (polling || b.signal.aborted) return;
    polling = true;
    void Promise.all(b.clients.map((c) => c.request('progress', null, 5000)))
      .then((counts) => {
        const count = counts.reduce((a, n) => a + n, 0);
        const now = performance.now();
        b.log(`connecting: ${fmt(count)} / ${fmt(connections)} open (${fmt(((count - last.count) * 1000) / (now - last.at))}/s)`);
        last = { at: now, count };
      })
      .catch(() => undefined) // a slow answer only costs a progress line
      .finally(() => (polling = false));
  }, 2000);
  try {
    const replies = await Promise.all(
      b.clients.map((c, i) => {
        const count = Math.floor(connections / clients) + (i < connections % clients ? 1 : 0);
        return c.request('connect', { port: b.port, count, addresses: addresses[i] ?? [], inflight }, b.config.timeoutMs);
      }),
    );
    const ms = performance.now() - started;
    const connected = replies.reduce((a, r) => a + r.connected, 0);
    if (connected !== connections) throw new Error(`only ${connected} of ${connections} connections are open`);
    const perWorker = await waitForWorkers(b, connections);
    return {
      ms,
      perSecond: (connections * 1000) / ms,
      serverMs: performance.now() - started,
      failedAttempts: replies.reduce((a, r) => a + r.failedAttempts, 0),
      perWorker,
    };
  } finally {
    clearInterval(progress);
  }
}

/** Polls the workers' local counts until they add up to `expected`. */
async function waitForWorkers(b: Bench, expected: number): Promise<number[]> {
  const deadline = performance.now() + 30_000;
  for (;;) {
    const counts = await Promise.all(b.workers.map((w) => askWorker(w.workerId, 'local')));
    const total = counts.reduce((a, n) => a + n, 0);
    if (total === expected) return counts;
    if (performance.now() > deadline) throw new Error(`the workers count ${total} clients, expected ${expected}`);
    await sleep(100);
  }
}

/** Sums of RSS (from /proc) and of V8 heap after GC over every worker. */
export async function workerMemory(b: Bench): Promise<{ rss: number; heapUsed: number }> {
  const mems: MemInfo[] = await Promise.all(b.workers.map((w) => askWorker(w.workerId, 'mem')));
  const rss = b.workers.reduce((a, w) => a + rssOf(w.pid), 0);
  return { rss, heapUsed: mems.reduce((a, m) => a + m.heapUsed, 0) };
}

export interface IdleCpu {
  /** Cores busy in all workers together (user + system), and the system (kernel) part of it. */
  workers: number;
  workersSystem: number;
  clients: number;
}

/** Cores the workers and the client processes keep busy while everyone is connected and idle (heartbeats). */
export async function idleCpu(b: Bench, windowMs: number): Promise<IdleCpu> {
  const sum = (times: CpuTime[]): CpuTime => times.reduce((a, t) => ({ user: a.user + t.user, system: a.system + t.system }), { user: 0, system: 0 });
  const sample = async (): Promise<[CpuTime, CpuTime]> => [
    sum(await Promise.all(b.workers.map((w) => askWorker(w.workerId, 'cpu')))),
    sum(await Promise.all(b.clients.map((c) => c.request('cpu', null)))),
  ];
  const [workers0, clients0] = await sample();
  const started = performance.now();
  await sleep(windowMs);
  const [workers1, clients1] = await sample();
  const elapsedUs = (performance.now() - started) * 1000;
  const cores = (t1: CpuTime, t0: CpuTime): number => (t1.user + t1.system - t0.user - t0.system) / elapsedUs;
  return { workers: cores(workers1, workers0), workersSystem: (workers1.system - workers0.system) / elapsedUs, clients: cores(clients1, clients0) };
}

/** Close codes the client processes saw, once `expected` connections closed (or after 15 s). */
export async function closeCodes(b: Bench, expected: number): Promise<Record<string, number>> {
  const deadline = performance.now() + 15_000;
  for (;;) {
    const merged: Record<string, number> = {};
    for (const codes of await Promise.all(b.clients.map((c) => c.request('closes', null)))) {
      for (const [code, n] of Object.entries(codes)) merged[code] = (merged[code] ?? 0) + n;
    }
    if (Object.values(merged).reduce((a, n) => a + n, 0) >= expected || performance.now() > deadline) return merged;
    await sleep(200);
  }
}

/** The connection that asks the app for broadcasts; it lands on whichever worker round-robin picks. */
export class Control {
  readonly #ws: WebSocket;
  readonly #messages: string[] = [];
  #wake: (() => void) | null = null;
  /** Data messages this connection got that were not replies (it is excepted from broadcasts). */
  stray = 0;
  /** Pid of the worker that holds it, hence runs the broadcasts. */
  readonly workerPid: number;

  private constructor(ws: WebSocket, workerPid: number) {
    this.#ws = ws;
    this.workerPid = workerPid;
    ws.on('message', (data: Buffer) => {
      const text = data.toString();
      if (text.startsWith('{')) this.#messages.push(text);
      else this.stray++;
      this.#wake?.();
    });
  }

  static async open(port: number): Promise<Control> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
    let pid = 0;
    // 'open' follows 'upgrade' in the same tick, so listen for both before waiting.
    ws.once('upgrade', (res) => void (pid = Number(res.headers[WORKER_HEADER])));
    await once(ws, 'open');
    return new Control(ws, pid);
  }

  async request(seq: number, timeoutMs: number): Promise<BroadcastReply> {
    this.#ws.send(broadcastCommand(seq));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = this.#messages.shift();
      if (text !== undefined) return JSON.parse(text) as BroadcastReply;
      if (Date.now() > deadline) throw new Error(`broadcast ${seq}: no answer from the app within ${timeoutMs} ms`);
      await Promise.race([new Promise<void>((resolve) => (this.#wake = resolve)), sleep(100)]);
    }
  }

  close(): void {
    this.#ws.terminate();
  }
}

export interface BroadcastRun {
  /** Send (in the app) to the last receipt in any client process. */
  ms: number;
  /** Send to `endpoint.broadcast` resolving (every node answered). */
  resolvedMs: number;
  reply: BroadcastReply;
  received: number;
  duplicates: number;
  /** First and last receipt per worker pid, relative to the send. */
  byWorkerMs: Record<string, { first: number; last: number }>;
  /** Last receipt per client process, relative to the send. */
  byClientMs: number[];
}

/** Starts broadcast `seq` and resolves with its result: the control connection (wsactor) or IPC to every worker (raw `ws`). */
export type Trigger = (seq: number, timeoutMs: number) => Promise<BroadcastReply>;

export async function broadcastOnce(b: Bench, trigger: Trigger, seq: number): Promise<BroadcastRun> {
  const timeoutMs = 60_000;
  const receipts = Promise.all(b.clients.map((c) => c.request('await', { seq, timeoutMs }, timeoutMs + 10_000)));
  await sleep(50); // the await requests reach the clients before the broadcast does
  const reply = await trigger(seq, timeoutMs);
  const all = await receipts;
  const byWorkerMs: Record<string, { first: number; last: number }> = {};
  for (const r of all) {
    for (const [pid, at] of Object.entries(r.lastByWorker)) {
      const seen = byWorkerMs[pid] ?? { first: Infinity, last: 0 };
      byWorkerMs[pid] = { first: Math.min(seen.first, (r.firstByWorker[pid] ?? at) - reply.sendMs), last: Math.max(seen.last, at - reply.sendMs) };
    }
  }
  return {
    ms: Math.max(...all.map((r) => r.lastMs)) - reply.sendMs,
    resolvedMs: reply.resolvedMs - reply.sendMs,
    reply,
    received: all.reduce((a, r) => a + r.received, 0),
    duplicates: all.reduce((a, r) => a + r.duplicates, 0),
    byWorkerMs,
    byClientMs: all.map((r) => r.lastMs - reply.sendMs),
  };
}
