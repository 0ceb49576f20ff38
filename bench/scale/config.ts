/** Command-line options of `npm run bench:scale` and the limits that shape the defaults. */
import { parseArgs } from 'node:util';

/** Open files one process may hold here; sockets per process must stay well below it. */
const FILE_LIMIT = 20_000;
/** Sockets per process the defaults aim for: headroom for round-robin imbalance and other files. */
const PER_PROCESS = 12_500;
/** Connections per loopback source address (the ephemeral range is 32768-60999, ~28k ports). */
const PER_ADDRESS = 15_000;

export interface ScaleConfig {
  quick: boolean;
  /** Servers to run, in order: `--server wsactor|raw`, or `--baseline` for raw `ws` then wsactor. */
  servers: ('wsactor' | 'raw')[];
  connections: number;
  workers: number;
  clients: number;
  /** The workers' `heartbeatMs`: every idle client is pinged once per period. */
  heartbeatMs: number;
  /** Handshakes in flight per client process. */
  inflight: number;
  broadcasts: number;
  /** Source addresses of each client process, 127.0.0.2 upward, none shared. */
  addresses: string[][];
  /** Overall limit of the run, after which every child is killed. */
  timeoutMs: number;
  /** Write a CPU profile of every worker to bench/results/raw/scale-prof/. */
  cpuProf: boolean;
  out: string;
}

function positive(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer, got ${text}`);
  return value;
}

export function parseConfig(argv: string[]): ScaleConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      server: { type: 'string', default: 'wsactor' },
      baseline: { type: 'boolean', default: false },
      connections: { type: 'string' },
      workers: { type: 'string' },
      clients: { type: 'string' },
      inflight: { type: 'string' },
      'heartbeat-ms': { type: 'string' },
      broadcasts: { type: 'string' },
      timeout: { type: 'string' },
      'cpu-prof': { type: 'boolean', default: false },
      out: { type: 'string', default: 'bench/results/scale-latest.json' },
    },
  });
  const quick = values.quick;
  const server = values.server;
  if (server !== 'wsactor' && server !== 'raw') throw new Error(`--server must be wsactor or raw, got ${server}`);
  const servers = values.baseline ? (['raw', 'wsactor'] as const) : ([server] as const);
  const connections = positive('connections', values.connections, quick ? 10_000 : 100_000);
  const byLimit = Math.max(2, Math.ceil(connections / PER_PROCESS));
  const workers = positive('workers', values.workers, byLimit);
  const clients = positive('clients', values.clients, byLimit);
  // Round-robin spreads evenly, but a worker also holds Redis connections, the IPC channel, ...
  if ((connections / workers) * 1.1 > FILE_LIMIT - 500) throw new Error(`${workers} workers cannot hold ${connections} connections (${FILE_LIMIT} files each): add --workers`);
  if (Math.ceil(connections / clients) > FILE_LIMIT - 500) throw new Error(`${clients} client processes cannot open ${connections} connections: add --clients`);
  const perClient = Math.ceil(connections / clients / PER_ADDRESS);
  if (2 + clients * perClient > 255) throw new Error('not enough 127.0.0.x source addresses for that many client processes');
  const addresses = Array.from({ length: clients }, (_, c) => Array.from({ length: perClient }, (_, a) => `127.0.0.${2 + c * perClient + a}`));
  return {
    quick,
    servers: [...servers],
    connections,
    workers,
    clients,
    // 10 s (the server default) pings 10,000 clients a second at 100k: about a core of this 2-core machine (see the README).
    heartbeatMs: positive('heartbeat-ms', values['heartbeat-ms'], 60_000),
    inflight: positive('inflight', values.inflight, 32),
    broadcasts: positive('broadcasts', values.broadcasts, 3),
    addresses,
    // Connecting runs at a few thousand per second here; the rest is start, memory, broadcasts, stop.
    timeoutMs: positive('timeout', values.timeout, (120 + Math.ceil(connections / 250)) * servers.length) * 1000,
    cpuProf: values['cpu-prof'],
    out: values.out,
  };
}
