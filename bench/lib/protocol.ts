/** What the orchestrator and its child processes say to each other, and small shared helpers. */

/** Milliseconds on the monotonic clock (CLOCK_MONOTONIC), comparable across processes. */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `count` loopback source addresses from 127.0.0.`first` on (the kernel owns all of 127/8). */
export function loopbackAddresses(first: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `127.0.0.${first + i}`);
}

/** Broadcast payloads start with their sequence number, padded to `size` bytes. */
export function broadcastPayload(seq: number, size: number): string {
  const head = `${seq} `;
  return head + 'x'.repeat(Math.max(0, size - head.length));
}

export function payloadSeq(data: Buffer): number {
  return Number.parseInt(data.toString('latin1', 0, 16), 10);
}

/** `floor`: raw ws plus one connection actor per connection (bench/servers/raw-ws-actor.ts). */
export type ServerKind = 'raw' | 'wsactor' | 'tcp' | 'floor';

export interface MemInfo {
  rss: number;
  heapUsed: number;
  /** V8 heap committed (used + free pages); with `newSpace` it explains RSS beyond heapUsed. */
  heapTotal: number;
  newSpace: number;
  external: number;
}

export interface ServerStats {
  /** Event-loop delay since the last reset, from perf_hooks.monitorEventLoopDelay. */
  eldP50Ms: number;
  eldP99Ms: number;
  eldMaxMs: number;
  /** Server CPU (user + system) since the last reset, and the system (kernel) part of it. */
  cpuMs: number;
  sysMs: number;
}

export type ServerCommands = {
  /** gc() twice, 1 s at rest, gc() again, then process.memoryUsage(). */
  mem: { req: null; res: MemInfo };
  /** Restarts the event-loop delay histogram and the CPU counter. */
  reset: { req: null; res: null };
  stats: { req: null; res: ServerStats };
  /** Open connections as the server counts them. */
  clients: { req: null; res: number };
  /** Writes a V8 heap snapshot to `file`; returns its name. */
  heapSnapshot: { req: { file: string }; res: string };
  /** Sends `count` broadcasts (seq firstSeq...), yielding to the event loop between them. */
  broadcast: { req: { count: number; size: number; firstSeq: number }; res: { startMs: number; sent: number; loopMs: number } };
};

/** One measurement window of a load process. `hist` is an encoded HDR histogram in µs. */
export interface Sample {
  count: number;
  errors: number;
  elapsedMs: number;
  /** CPU (user + system) the load process used in the window. */
  cpuMs: number;
  hist: string;
}

export interface EchoJob {
  kind: 'ws' | 'tcp';
  port: number;
  addresses: string[];
  conns: number;
  inflight: number;
  size: number;
}

export interface ChurnJob {
  port: number;
  addresses: string[];
  concurrency: number;
  size: number;
}

/** Load processes run until stopped; `mark` returns what happened since the previous mark. */
export type LoadCommands<J> = {
  start: { req: J; res: null };
  mark: { req: null; res: Sample };
  stop: { req: null; res: null };
};

export type HoldCommands = {
  /** Opens `count` idle connections, spread over `addresses`. */
  connect: { req: { port: number; count: number; addresses: string[] }; res: { connected: number } };
  /** Resolves once every connection received broadcast `seq`; `lastMs` is when the last one did. */
  await: { req: { seq: number; timeoutMs: number }; res: { lastMs: number; received: number } };
};

export interface StormJob {
  port: number;
  count: number;
  addresses: string[];
}

/** What one storm process saw: every client either opened or failed (or timed out). */
export interface StormResult {
  opened: number;
  failed: number;
  /** Failed connects by error message (a timeout is one too). */
  reasons: Record<string, number>;
  /** Clients that closed after opening, before the reply. */
  dropped: number;
  /** When its last client opened (monotonic ms, see nowMs); 0 if none did. */
  lastOpenMs: number;
  /** How late its first client started after `atMs`, and how long creating all of them took. */
  lateMs: number;
  createMs: number;
  /** CPU (user + system) the storm process used from `atMs` until all settled. */
  cpuMs: number;
  /** Each client's time from its creation to its 'open' event, µs (encoded HDR histogram). */
  hist: string;
}

export type StormCommands = {
  /** Takes the job; connects nothing yet. */
  prepare: { req: StormJob; res: null };
  /** At `atMs` (monotonic, shared by all storm processes) opens every client at once; resolves when all settled. */
  go: { req: { atMs: number; timeoutMs: number }; res: StormResult };
};

/**
 * Options of every bench WebSocket client: no compression, and an all-zero masking key so
 * the load generator does not spend its CPU masking (the servers' work is unchanged).
 */
export function clientOptions(localAddress: string | undefined): { localAddress?: string; perMessageDeflate: false; generateMask(mask: Buffer): void } {
  return { localAddress, perMessageDeflate: false, generateMask: (mask) => void mask.fill(0) };
}

export type PlayerCommands = {
  /**
   * Opens `count` connections spread over `addresses`; each sends one `join` (named
   * `${namePrefix}${i}`) and waits for its reply, then stays idle.
   */
  connect: { req: { port: number; count: number; addresses: string[]; namePrefix: string }; res: { connected: number } };
  /**
   * One `score` message on each connection `from`..`from + count - 1`, one after the other
   * (the next is sent when the reply came). `hist`: round trips in µs (encoded HDR histogram);
   * `wrong`: replies whose score was not the one expected; `minGapMs`/`maxGapMs`: the
   * shortest/longest time a connection had been quiet (since its previous reply) when its
   * message went out.
   */
  ping: { req: { from: number; count: number }; res: { hist: string; wrong: number; minGapMs: number; maxGapMs: number } };
};
