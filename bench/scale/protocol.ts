/** What the scale orchestrator, the cluster workers and the client processes say to each other. */

/** Wall-clock milliseconds with sub-ms resolution; the same clock in every process of this machine. */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Environment variable with the Redis URL, set by the orchestrator through runCluster's `env`. */
export const REDIS_URL_ENV = 'SCALE_BENCH_REDIS_URL';

/** Environment variable with the workers' `heartbeatMs` server option. */
export const HEARTBEAT_ENV = 'SCALE_BENCH_HEARTBEAT_MS';

/** Response header with the pid of the worker that accepted a connection (set in onHandshake). */
export const WORKER_HEADER = 'x-scale-worker';

/** Text the control client sends to ask the app for broadcast `seq`. */
export function broadcastCommand(seq: number): string {
  return `broadcast ${seq}`;
}

/** The broadcast payload: `<seq> <send time>`; receivers only need the seq. */
export function broadcastText(seq: number, sendMs: number): string {
  return `${seq} ${sendMs.toFixed(3)}`;
}

/** What the app answers the control client after `endpoint.broadcast` resolved. */
export interface BroadcastReply {
  seq: number;
  /** Pid of the worker that ran the broadcast. */
  pid: number;
  sendMs: number;
  /** When `endpoint.broadcast` resolved (all nodes answered). */
  resolvedMs: number;
  sent: number;
  /** Distinct ids in `sent` (a client listed twice would show here). */
  distinctSent: number;
  failed: number;
  unreachedNodes: number;
}

export interface CpuTime {
  user: number;
  system: number;
}

export interface MemInfo {
  rss: number;
  heapUsed: number;
  external: number;
}

/** Bench-only IPC between the cluster primary (the orchestrator) and each worker. */
export type WorkerCommands = {
  /** gc() twice, then process.memoryUsage(). */
  mem: { req: null; res: MemInfo };
  /** `endpoint.getLocalClients().length`. */
  local: { req: null; res: number };
  /** `process.cpuUsage()`: user and system CPU time so far, in microseconds. */
  cpu: { req: null; res: CpuTime };
  /** `endpoint.getClients()` (cluster-wide) and how long it took. */
  cluster: { req: null; res: { count: number; ms: number } };
  /** Raw `ws` workers only (`--server raw`): the send loop over `wss.clients`, and how long it took. */
  broadcast: { req: { seq: number; sendMs: number }; res: { sent: number; loopMs: number } };
};
export type WorkerCommand = keyof WorkerCommands;

/** Tagged so neither runCluster nor the app mistakes them for their own messages. */
export interface WorkerRequest {
  readonly tag: 'scale-bench';
  readonly id: number;
  readonly cmd: WorkerCommand;
  readonly arg?: WorkerCommands[WorkerCommand]['req'];
}
export interface WorkerReply {
  readonly tag: 'scale-bench';
  readonly id: number;
  readonly result?: WorkerCommands[WorkerCommand]['res'];
  readonly error?: string;
}

export function isWorkerMessage<T extends WorkerRequest | WorkerReply>(value: unknown): value is T {
  return typeof value === 'object' && value !== null && (value as { tag?: unknown }).tag === 'scale-bench';
}

/** One client process's view of one broadcast. */
export interface Receipt {
  /** Connections that got it (each counted once). */
  received: number;
  /** Copies beyond the first, over all connections. */
  duplicates: number;
  /** Open connections of this process. */
  connections: number;
  firstMs: number;
  lastMs: number;
  /** First and last receipt per worker pid (from the handshake header). */
  firstByWorker: Record<string, number>;
  lastByWorker: Record<string, number>;
}

export type ClientCommands = {
  /** Opens `count` idle connections over `addresses`, at most `inflight` handshakes at a time. */
  connect: {
    req: { port: number; count: number; addresses: string[]; inflight: number };
    res: { connected: number; failedAttempts: number; byWorker: Record<string, number> };
  };
  /** Connections open so far (for progress lines). */
  progress: { req: null; res: number };
  /** `process.cpuUsage()`: user and system CPU time so far, in microseconds. */
  cpu: { req: null; res: CpuTime };
  /** How many connections closed, by close code. */
  closes: { req: null; res: Record<string, number> };
  /** Resolves once every connection got broadcast `seq` (and a short grace for duplicates), or at the timeout. */
  await: { req: { seq: number; timeoutMs: number }; res: Receipt };
};
