/**
 * Cluster mode: one call runs N worker processes (Node's `cluster` module, one shared port,
 * round-robin), each a wsactor server with the app's hooks.
 *
 * Workers re-run the entry script, so call `runCluster` with the same options at the top
 * level of that script; it forks in the primary and starts a server in each worker:
 *
 * ```ts
 * const handle = runCluster({ workers: 4, port: 8080, setup: () => ({ app: new Chat(), options: { path: '/ws' } }) });
 * if (handle.isPrimary) console.log('listening on', (await handle.ready).port);
 * ```
 *
 * With `exec`, workers run another script instead; that script calls `runCluster({ setup })`.
 */
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { InvalidOptionError } from '../errors.js';
import type { ServerOptions } from '../options.js';
import {
  boolean,
  func,
  integer,
  logger,
  MAX_TIMER_MS,
  nullable,
  optional,
  readOptions,
  satisfies,
  string,
  strings,
  type OptionScope,
} from '../validate.js';
import { consoleLogger, type Logger } from '../runtime/logger.js';
import type { Websocket } from '../types.js';
import type { WsActorServer } from '../runtime/server.js';
import type { ClusterAdapter } from './adapter.js';
import type { RedisAdapterOptions } from './redis-adapter.js';
import { startPrimary } from './cluster-primary.js';
import { startWorker } from './cluster-worker.js';

/** What `setup` learns about the worker it runs in. */
export interface ClusterWorkerContext {
  /** `cluster.worker.id`: 1, 2, 3, ... in fork order, also for respawned workers. */
  readonly workerId: number;
  /** The node id the primary handed out, or null when the cluster adapter assigns it at start. */
  readonly nodeId: number | null;
}

/** Server options a worker's `setup` may give: all but those the cluster sets itself. */
export type ClusterServerOptions = Omit<ServerOptions, 'host' | 'port' | 'server' | 'nodeId' | 'cluster'>;

/** What `setup` returns: the app of this worker and its server options. */
export interface ClusterSetup<H = unknown> {
  readonly app: Websocket<H>;
  readonly options?: ClusterServerOptions;
  /**
   * Called with this worker's server once it is created, before it starts: attach what needs
   * the server (`createLiveView`, `createMetrics`, `server.lifecycle.subscribe`, keep it for
   * `reloadTls`). It may return a function, run (and awaited) after the server stopped and
   * before the worker exits, to close what it opened. A throw fails the worker's start.
   */
  readonly attach?: (server: WsActorServer<H>) => void | (() => void | Promise<void>) | Promise<void | (() => void | Promise<void>)>;
}

/** One worker that started its server. */
export interface ClusterWorker {
  readonly pid: number;
  /** `cluster.worker.id` of the worker. */
  readonly workerId: number;
  /** The high bits of its client ids: `Math.floor(clientId / 2 ** 32)`. */
  readonly nodeId: number;
}

/** A forked worker; its node id is null until it started when the adapter assigns ids. */
export interface ForkedWorker {
  readonly pid: number;
  readonly workerId: number;
  readonly nodeId: number | null;
}

/** What happens to workers, as seen by the primary (`onEvent`). */
export type ClusterEvent =
  | { readonly type: 'fork'; readonly worker: ForkedWorker }
  | { readonly type: 'ready'; readonly worker: ClusterWorker }
  | {
      readonly type: 'exit';
      readonly worker: ForkedWorker;
      readonly code: number | null;
      readonly signal: string | null;
      /** Exited neither by the cluster's stop nor with code 0. */
      readonly crashed: boolean;
      /** A replacement (with a new node id) was forked. */
      readonly respawned: boolean;
    }
  /** More than `maxRestarts` crashes within `restartWindowMs`: crashed workers are no longer replaced. */
  | { readonly type: 'gave-up'; readonly crashes: number; readonly windowMs: number };

/** Options of {@link runCluster}. */
export interface ClusterOptions<H = unknown> {
  /** Worker processes to run. Default: `os.availableParallelism()`. */
  workers?: number;
  /** Port every worker listens on (shared; 0 picks one free port for all). Default: 0. */
  port?: number;
  /** Interface to listen on. Default: all interfaces. */
  host?: string | undefined;
  /** Runs in each worker and returns its app and server options. Required unless `exec` names a worker script. */
  setup?: ((context: ClusterWorkerContext) => ClusterSetup<H> | Promise<ClusterSetup<H>>) | undefined;
  /**
   * Each worker joins the cluster through `redisAdapter(redis)` (its `logger` defaults to
   * this one), so Endpoint calls reach clients of every worker and of other hosts on the
   * same Redis and prefix; Redis assigns the node ids. Excludes `adapter`. Default: null.
   */
  redis?: RedisAdapterOptions | null;
  /**
   * Makes the cluster adapter of each worker (another transport than Redis); the adapter
   * then assigns node ids. Excludes `redis`. Default: null. Without `redis` and `adapter`
   * the workers are independent servers with node ids from the primary.
   */
  adapter?: ((context: ClusterWorkerContext) => ClusterAdapter) | null;
  /** Script the workers run. Default: the entry script (`process.argv[1]`). */
  exec?: string | undefined;
  /** Node flags of the workers (e.g. `['--import', 'tsx']`). Default: `process.execArgv`. */
  execArgv?: readonly string[] | undefined;
  /** Arguments of the workers. Default: `process.argv.slice(2)`. */
  args?: readonly string[] | undefined;
  /** Extra environment variables of the workers (added to `process.env`). Default: none. */
  env?: Readonly<Record<string, string>>;
  /** Milliseconds for every worker to start; later, `ready` rejects. Default: 30000. */
  startTimeoutMs?: number;
  /**
   * Milliseconds a stop waits for workers to close their clients and exit before it kills
   * the rest with SIGKILL. Default: 60000 (closing 12,500 clients per worker took ~55 s on 2 shared cores; see README "Scale").
   */
  stopTimeoutMs?: number;
  /** Crashed workers replaced within `restartWindowMs`; one more crash there is not replaced. Default: 5. */
  maxRestarts?: number;
  /** Window of `maxRestarts`, in milliseconds. Default: 60000. */
  restartWindowMs?: number;
  /**
   * Stop gracefully on SIGINT/SIGTERM: the primary stops every worker, then re-raises the
   * signal (a second one kills the workers at once); a worker stops its server and exits 0.
   * Default: true.
   */
  handleSignals?: boolean;
  /** Receives crashes, respawns and failures of the primary and workers. Default: console. */
  logger?: Logger;
  /** Called in the primary for every {@link ClusterEvent}. Default: null. */
  onEvent?: ((event: ClusterEvent) => void) | null;
}

/** What `ready` resolves with. */
export interface ClusterReady {
  /** The port the workers share. */
  readonly port: number;
  /** The workers running now (in a worker: that worker alone). */
  readonly workers: readonly ClusterWorker[];
}

/** Returned by {@link runCluster}, in the primary and in each worker. */
export interface ClusterHandle {
  /** True in the primary, false in a worker. */
  readonly isPrimary: boolean;
  /**
   * Resolves once every worker started its server. Rejects with a `ClusterError` when one
   * failed to start (after the others were stopped) or the cluster stopped first.
   */
  readonly ready: Promise<ClusterReady>;
  /**
   * Primary: stops every worker (each closes its clients with 1001 and runs `onStop`),
   * resolves once all exited; workers still running after `stopTimeoutMs` are killed.
   * Worker: stops this worker's server and exits the process. Safe to call twice.
   */
  stop(): Promise<void>;
  /** The workers whose server is running now. */
  workers(): ClusterWorker[];
  /** Resolves when no worker runs and none will be forked (after a stop, or when crashed ones are no longer replaced). */
  readonly closed: Promise<void>;
}

/** Options after defaults were applied and validated. */
export interface ResolvedClusterOptions<H = unknown> {
  readonly workers: number;
  readonly port: number;
  readonly host: string | undefined;
  readonly setup: ((context: ClusterWorkerContext) => ClusterSetup<H> | Promise<ClusterSetup<H>>) | undefined;
  readonly redis: RedisAdapterOptions | null;
  readonly adapter: ((context: ClusterWorkerContext) => ClusterAdapter) | null;
  readonly exec: string | undefined;
  readonly execArgv: readonly string[] | undefined;
  readonly args: readonly string[] | undefined;
  readonly env: Readonly<Record<string, string>>;
  readonly startTimeoutMs: number;
  readonly stopTimeoutMs: number;
  readonly maxRestarts: number;
  readonly restartWindowMs: number;
  readonly handleSignals: boolean;
  readonly logger: Logger;
  readonly onEvent: ((event: ClusterEvent) => void) | null;
}

/** Cluster options name themselves like server options, and show objects as JSON. */
const clusterScope: OptionScope = {
  label: (key) => `Option "${key}"`,
  unknown: (key) => `Unknown cluster option "${key}"`,
  notObject: 'Cluster options must be an object',
  show: (value) => (typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value)),
};

type Setup<H> = (context: ClusterWorkerContext) => ClusterSetup<H> | Promise<ClusterSetup<H>>;
type AdapterFactory = (context: ClusterWorkerContext) => ClusterAdapter;

const isStringRecord = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && Object.values(value).every((v) => typeof v === 'string');

/** Every option of {@link ClusterOptions} and its check; null takes the default where a `?? default` follows. */
function clusterSpec<H>() {
  return {
    workers: integer(),
    port: integer({ min: 0, max: 65535 }),
    host: optional(string()),
    setup: optional(nullable(func<Setup<H>>())),
    redis: nullable(satisfies<RedisAdapterOptions>((value) => typeof value === 'object' && !Array.isArray(value), 'must be redisAdapter options (an object) or null')),
    adapter: nullable(func<AdapterFactory>()),
    exec: optional(string({ nonEmpty: true, requirement: 'must be a path' })),
    execArgv: optional(strings()),
    args: optional(strings()),
    env: nullable(satisfies<Readonly<Record<string, string>>>(isStringRecord, 'must be an object of strings')),
    startTimeoutMs: integer({ max: MAX_TIMER_MS }),
    stopTimeoutMs: integer({ max: MAX_TIMER_MS }),
    maxRestarts: integer({ min: 0 }),
    restartWindowMs: integer({ max: MAX_TIMER_MS }),
    handleSignals: boolean(),
    logger: nullable(logger()),
    onEvent: nullable(func<(event: ClusterEvent) => void>()),
  };
}

/** Applies defaults and validates; throws {@link InvalidOptionError} with an exact message. */
export function resolveClusterOptions<H>(options: ClusterOptions<H>): ResolvedClusterOptions<H> {
  const o = readOptions(clusterScope, options, clusterSpec<H>(), {
    workers: availableParallelism(),
    port: 0,
    host: undefined,
    setup: undefined,
    redis: null,
    adapter: null,
    exec: undefined,
    execArgv: undefined,
    args: undefined,
    env: {},
    startTimeoutMs: 30_000,
    stopTimeoutMs: 60_000,
    maxRestarts: 5,
    restartWindowMs: 60_000,
    handleSignals: true,
    logger: consoleLogger,
    onEvent: null,
  });
  const setup = o.setup ?? undefined;
  if (setup === undefined && o.exec === undefined) {
    throw new InvalidOptionError('Option "setup" is required unless "exec" names a worker script');
  }
  if (o.redis !== null && o.adapter !== null) throw new InvalidOptionError('Option "redis" excludes "adapter"');
  return { ...o, setup, env: { ...(o.env ?? {}) }, logger: o.logger ?? consoleLogger };
}

/**
 * Runs the app in a cluster of worker processes. In the primary it forks `workers`
 * workers and returns at once; in a worker it calls `setup` and starts a server. Options
 * are validated first, in both: a bad one throws {@link InvalidOptionError}.
 *
 * Node ids: the primary hands each forked worker a fresh one (1, 2, 3, ...; a respawned
 * worker gets a new one), so client ids are never reused in the cluster; with `redis` (or
 * `adapter`) the adapter assigns them, and Endpoint calls reach every worker's clients. A crashed worker is replaced, up to `maxRestarts` times within
 * `restartWindowMs`; a worker that exits with code 0 is not.
 */
export function runCluster<H>(options: ClusterOptions<H>): ClusterHandle {
  const resolved = resolveClusterOptions(options);
  return cluster.isPrimary ? startPrimary(resolved) : startWorker(resolved);
}
