/**
 * The `wsactor` command line: its flags (node:util parseArgs), their defaults and the help
 * text. A bad flag or value throws {@link UsageError} with a one-line message.
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { MAX_TIMER_MS } from '../validate.js';

/** A bad command line or app module: one line on stderr, exit code 2. */
export class UsageError extends Error {}

/** Exit codes of the command. */
export const EXIT = {
  /** Stopped on SIGINT/SIGTERM, cleanly (every client closed in time, nothing failed while stopping); or --help. */
  ok: 0,
  /** Failed to start, stopped but not cleanly, or a cluster that ended by itself. */
  failed: 1,
  /** A bad flag or value, or an app module that cannot be loaded or exports no app. */
  usage: 2,
} as const;

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 8080;

/** What the command line asks for; undefined means "not given" (module options or defaults apply). */
export interface CliArgs {
  readonly help: boolean;
  readonly version: boolean;
  /** The app module, as given. */
  readonly module: string;
  readonly host: string | undefined;
  readonly port: number | undefined;
  readonly path: string | undefined;
  /** 1: one process, no cluster. */
  readonly workers: number;
  readonly redis: string | undefined;
  readonly tlsCert: string | undefined;
  readonly tlsKey: string | undefined;
  readonly liveView: boolean;
  readonly metrics: boolean;
  readonly observeHost: string;
  readonly observePort: number;
  readonly lifecycleLog: string | undefined;
  readonly stopTimeoutMs: number | undefined;
}

const flags = {
  host: { type: 'string', short: 'H' },
  port: { type: 'string', short: 'p' },
  path: { type: 'string' },
  workers: { type: 'string', short: 'w' },
  redis: { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'live-view': { type: 'boolean' },
  metrics: { type: 'boolean' },
  'observe-host': { type: 'string' },
  'observe-port': { type: 'string' },
  'lifecycle-log': { type: 'string' },
  'stop-timeout': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;

export const HELP = `Usage: wsactor [options] <app-module>

Runs the wsactor app that <app-module> (a .js/.mjs file; TypeScript through a loader, see
below) exports:
  export default app                an object (or class instance) with Websocket hooks
  export default class App {...}    a class: one instance per process
  export default async () => app    a function returning the app, called once per process
                                    with { workerId, nodeId } (workerId 0 without --workers)
  export const options = {...}      createServer options; flags and HOST/PORT override them

Options:
  -H, --host <address>        listen address (default: $HOST, else options.host, else ${DEFAULT_HOST})
  -p, --port <n>              listen port, 0 picks a free one (default: $PORT, else options.port, else ${DEFAULT_PORT})
      --path <pathname>       only upgrades to this path are handled (default: options.path, else any path)
  -w, --workers <n|auto>      worker processes; above 1 runs cluster mode on one port, auto is
                              one per core (default: 1, one process)
      --redis <url>           join a cluster over Redis (redis:// or rediss://): Endpoint calls
                              reach the clients of every process and host (default: off)
      --tls-cert <file>       certificate chain (PEM): serve wss:// (with --tls-key; an
                              encrypted key's passphrase comes from $WSACTOR_TLS_PASSPHRASE);
                              SIGHUP reloads both files without a restart (default: off)
      --tls-key <file>        private key (PEM) of --tls-cert
      --live-view             serve the live view at /_wsactor on the observability port (default: off)
      --metrics               serve Prometheus metrics at /metrics on the observability port (default: off)
      --observe-host <addr>   observability address (default: ${DEFAULT_HOST}, never the network unless told)
      --observe-port <n>      observability port, 0 picks a free one; otherwise the first free port
                              from <n> up (with --workers, each worker takes its own) (default: 0)
      --lifecycle-log <file>  append every lifecycle transition as a JSON line (with --workers,
                              every worker appends to the same file) (default: off)
      --stop-timeout <ms>     how long a stop waits for clients to close before cutting them
                              (default: options.stopTimeoutMs, else 30000)
  -h, --help                  show this help
  -v, --version               print the version

SIGINT/SIGTERM stop gracefully: onStop runs once per process and every client gets 1001; a
second signal exits at once. Exit code: 0 after a clean stop, 1 when the app failed to start
or the stop was not clean (clients cut at the stop timeout, a hook failed while stopping), 2
for a bad flag or an app module that exports no app.

TypeScript apps: run the command through a loader, e.g.
  node --import tsx ./node_modules/.bin/wsactor app.ts
  npx tsx ./node_modules/wsactor/dist/cli.js app.ts
`;

/** A non-negative integer from a flag or variable, at most `max`. */
function integerOf(value: string, what: string, min: number, max: number): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`${what} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  return n;
}

function workersOf(value: string | undefined): number {
  if (value === undefined) return 1;
  if (value === 'auto') return availableParallelism();
  return integerOf(value, '--workers', 1, 1024);
}

function redisOf(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--redis must be a redis:// or rediss:// URL, got ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new UsageError(`--redis must be a redis:// or rediss:// URL, got ${JSON.stringify(value)}`);
  return value;
}

/** The first sentence of parseArgs' message (its unknown-option hint runs on). */
function parseError(error: unknown): UsageError {
  const message = error instanceof Error ? error.message : String(error);
  return new UsageError(message.split('. To specify a positional')[0] ?? message);
}

/** Reads the command line (without `node` and the script); `env` gives HOST and PORT. */
export function readArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): CliArgs {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof flags; allowPositionals: true; strict: true; args: string[] }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: flags, allowPositionals: true, strict: true });
  } catch (error) {
    throw parseError(error);
  }
  const { values, positionals } = parsed;
  const help = values.help === true;
  const version = values.version === true;
  if (!help && !version && positionals.length !== 1) {
    throw new UsageError(positionals.length === 0 ? 'No app module given' : `One app module expected, got ${positionals.length}: ${positionals.join(' ')}`);
  }
  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) {
    throw new UsageError('--tls-cert and --tls-key go together');
  }
  const host = values.host ?? (env.HOST === undefined || env.HOST === '' ? undefined : env.HOST);
  const portText = values.port ?? (env.PORT === undefined || env.PORT === '' ? undefined : env.PORT);
  const portSource = values.port !== undefined ? '--port' : 'PORT';
  const stop = values['stop-timeout'];
  return {
    help,
    version,
    module: positionals[0] ?? '',
    host: host === '' ? undefined : host,
    port: portText === undefined ? undefined : integerOf(portText, portSource, 0, 65535),
    path: values.path,
    workers: workersOf(values.workers),
    redis: redisOf(values.redis),
    tlsCert: values['tls-cert'],
    tlsKey: values['tls-key'],
    liveView: values['live-view'] === true,
    metrics: values.metrics === true,
    observeHost: values['observe-host'] ?? DEFAULT_HOST,
    observePort: values['observe-port'] === undefined ? 0 : integerOf(values['observe-port'], '--observe-port', 0, 65535),
    lifecycleLog: values['lifecycle-log'],
    stopTimeoutMs: stop === undefined ? undefined : integerOf(stop, '--stop-timeout', 1, MAX_TIMER_MS),
  };
}
