/**
 * What the soak orchestrator, its servers and its client processes say to each other.
 *
 * Wire protocol (text frames), client -> server:
 *   `e <seq>[ <pad>]`  echo: answered `r <seq> <count>[ <pad>]` to the sender
 *   `m <seq>`          multicast: `m <key> <seq> <count>` to the sender and up to 3 room mates
 * server -> client: `b <bseq>` (periodic broadcast), the two answers above.
 * `<seq>` counts 1, 2, 3, ... per connection; `<count>` is the server's per-client count of
 * delivered messages (per-client state: it must equal `<seq>`). A client names itself with
 * `?k=<key>` in the URL; each 101 carries the server's pid in `x-soak-worker`.
 */
import { readdirSync } from 'node:fs';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { writeHeapSnapshot } from 'node:v8';

export const WORKER_HEADER = 'x-soak-worker';
export const ROOMS = 64;
export const TAG = 'soak';

/** The soak server settings, the same for wsactor and raw `ws` (raw has no rate limit or outbound limit). */
export const SERVER_SETTINGS = {
  heartbeatMs: 2000,
  maxMessagesPerSecond: 100,
  closePeriodMs: 3000,
} as const;

export function roomOf(key: string): number {
  let h = 0;
  for (let i = 0; i < key.length; i++) h = (h * 31 + key.charCodeAt(i)) >>> 0;
  return h % ROOMS;
}

/** What a server remembers of a client once it closed (one per connection that opened). */
export interface LedgerEntry {
  key: string;
  /** Messages the server read (`messages_read`). */
  read: number;
  /** Messages given to the app (its per-client count). */
  delivered: number;
  /** `messages_dropped`: read but never given to the app, counted by the server. */
  dropped: number;
  /** Replies to the sender handed to the OS. */
  ok: number;
  /** Replies that failed, by error code. */
  failed: Record<string, number>;
  closeCode: number;
}

export interface ServerSample {
  pid: number;
  /** Wall-clock ms. */
  t: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  fds: number;
  /** Open and not closing. */
  open: number;
  /** Opened, onClose not yet run, close begun. */
  closing: number;
  /** Event-loop delay over the window, ms (gc() pauses of the sampling itself excluded). */
  eldP99: number;
  eldMax: number;
  /** Messages given to the app so far (cumulative). */
  delivered: number;
  /** Server-side counters: messages dropped, slow-consumer closes, rate pauses (wsactor only). */
  dropped: number;
  slowCloses: number;
  ratePauses: number;
  /** Redis adapter `gaps` and `publishFailed` (cluster only). */
  gaps: number;
  publishFailed: number;
  errors: number;
}

export interface BroadcastOutcome {
  bseq: number;
  sent: number;
  failed: Record<string, number>;
  unreachedNodes: number;
}

/** Orchestrator -> server commands. */
export type ServerCommands = {
  sample: { req: null; res: ServerSample };
  broadcast: { req: { bseq: number }; res: BroadcastOutcome };
  /** Ledger entries of clients that closed since the last call (each handed out once). */
  ledger: { req: null; res: LedgerEntry[] };
  /** Writes a V8 heap snapshot (after gc()) to `path`. */
  snapshot: { req: { path: string }; res: { path: string; ms: number } };
};

export interface Request {
  tag: typeof TAG;
  id: number;
  cmd: keyof ServerCommands;
  arg: unknown;
}
export interface Reply {
  tag: typeof TAG;
  id: number;
  result?: unknown;
  error?: string;
  ready?: { port: number };
}
export function isSoak(value: unknown): value is Request & Reply {
  return typeof value === 'object' && value !== null && (value as { tag?: unknown }).tag === TAG;
}

/** Server side: answers the orchestrator's tagged IPC messages (child process or cluster worker alike). */
export function serveSoak(handlers: { [K in keyof ServerCommands]: (arg: ServerCommands[K]['req']) => ServerCommands[K]['res'] | Promise<ServerCommands[K]['res']> }): void {
  process.on('message', (raw: unknown) => {
    if (!isSoak(raw) || raw.cmd === undefined) return;
    const run = handlers[raw.cmd] as (arg: unknown) => unknown;
    Promise.resolve()
      .then(() => run(raw.arg))
      .then(
        (result) => process.send?.({ tag: TAG, id: raw.id, result } satisfies Reply),
        (error: unknown) => process.send?.({ tag: TAG, id: raw.id, error: error instanceof Error ? error.message : String(error) } satisfies Reply),
      );
  });
}

/** Memory (after gc()), fds and event-loop delay of this process. */
export class Sampler {
  readonly #eld: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });
  readonly #gc = (globalThis as { gc?: () => void }).gc;
  errors = 0;

  constructor() {
    this.#eld.enable();
    process.on('uncaughtException', (error) => {
      this.errors++;
      console.error('uncaught', error);
    });
    process.on('unhandledRejection', (error) => {
      this.errors++;
      console.error('unhandled rejection', error);
    });
  }

  take(extra: Omit<ServerSample, 'pid' | 't' | 'rss' | 'heapUsed' | 'heapTotal' | 'external' | 'arrayBuffers' | 'fds' | 'eldP99' | 'eldMax' | 'errors'>): ServerSample {
    const eldP99 = this.#eld.percentile(99) / 1e6;
    const eldMax = this.#eld.max / 1e6;
    // The sampling's own gc() pauses are not the app's event-loop delay: stop the monitor around them.
    this.#eld.disable();
    this.#gc?.();
    this.#gc?.();
    const m = process.memoryUsage();
    this.#eld.reset();
    this.#eld.enable();
    let fds = -1;
    try {
      fds = readdirSync('/proc/self/fd').length;
    } catch {
      // not Linux
    }
    return { pid: process.pid, t: Date.now(), rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, fds, eldP99, eldMax, errors: this.errors, ...extra };
  }
}

/** The `snapshot` command: a heap snapshot after gc(). */
export function snapshotTo({ path }: { path: string }): { path: string; ms: number } {
  const started = performance.now();
  (globalThis as { gc?: () => void }).gc?.();
  writeHeapSnapshot(path);
  return { path, ms: Math.round(performance.now() - started) };
}

/** One connection as its client process saw it. */
export interface ClientRecord {
  key: string;
  /** How this client ended: clean | drop | silent | garbage | slow | flood | burst | final (closed at the end of the run). */
  mode: string;
  worker: string;
  sent: number;
  answered: number;
  /** Answers that were not the next expected seq (duplicates, out of order, unknown). */
  orderErrors: number;
  /** Answers whose server count differed from the seq (per-client state lost). */
  stateErrors: number;
  /** Broadcasts: received, holes between consecutive ones, duplicates or backwards. */
  bReceived: number;
  bFirst: number;
  bLast: number;
  bGaps: number[];
  bOrderErrors: number;
  closeCode: number;
  /** True if the client gave up waiting (drain or close timed out). */
  timedOut: boolean;
  /** Open (or opening) in a client process while it was stopped (SIGSTOP fault). */
  stopped?: boolean;
  /** The client reset or terminated the connection itself (churn drop, a timeout, the end). */
  clientReset?: boolean;
}

export interface ClientTotals {
  open: number;
  opened: number;
  connectFailures: number;
  sent: number;
  answered: number;
  broadcasts: number;
  closesByMode: Record<string, number>;
  closeCodes: Record<string, number>;
}

export interface LoadPlan {
  port: number;
  addresses: string[];
  /** Normal clients to keep open. */
  target: number;
  /** Messages per second per client. */
  rate: number;
  /** Closes (each replaced by a new client) per second, this process. */
  churn: number;
  /** Hostile clients this process runs (garbage, slow reader, flooder), each on its own period. */
  hostile: boolean;
  prefix: string;
  silentHoldMs: number;
}

export type ClientCommands = {
  start: { req: LoadPlan; res: null };
  totals: { req: null; res: ClientTotals };
  /** 1,000 (or n) connections at once; they send for holdMs, then drain and close cleanly. */
  burst: { req: { n: number; holdMs: number }; res: { opened: number; failed: number; ms: number } };
  /**
   * Before a SIGSTOP of this process: starts `big` clients that stop reading and send 128 KiB
   * messages (the server's outbound limit applies to them), marks every client open or opening
   * (and those opened until `resumed`) as stopped; returns the pid and the count marked.
   */
  stopMark: { req: { big: number; bigLeadMs: number }; res: { pid: number; marked: number } };
  /** After SIGCONT: stops marking new clients. */
  resumed: { req: null; res: { open: number } };
  /** Stops churn, sending and hostiles; drains and closes every client; returns every record. */
  finish: { req: { drainMs: number }; res: ClientRecord[] };
};

/** `n` loopback source addresses for client process `index` (127.0.0.2 upward). */
export function addressesFor(index: number, n: number): string[] {
  return Array.from({ length: n }, (_, a) => `127.0.0.${2 + index * n + a}`);
}

export function listOpenFds(): number {
  return readdirSync('/proc/self/fd').length;
}
