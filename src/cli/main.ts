/**
 * What the `wsactor` command does: loads the app module, runs it in one process or in
 * cluster mode, serves the live view, metrics and the lifecycle log when asked, stops
 * gracefully on SIGINT/SIGTERM and reloads the TLS files on SIGHUP. `main` resolves with the
 * exit code (see {@link EXIT}); in a cluster worker it never resolves (the worker exits).
 */
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { ClusterEvent } from '../cluster/cluster.js';
import { InvalidOptionError } from '../errors.js';
import { resolveOptions, type ServerOptions } from '../options.js';
import { jsonLinesWriter } from '../runtime/lifecycle-events.js';
import { consoleLogger, type Logger } from '../runtime/logger.js';
import { createServer, type WsActorServer } from '../runtime/server.js';
import type { TlsOptions } from '../tls.js';
import { MAX_TIMER_MS } from '../validate.js';
import { loadAppModule, type AppModule } from './app-module.js';
import { DEFAULT_HOST, DEFAULT_PORT, EXIT, HELP, readArgs, UsageError, type CliArgs } from './args.js';
import { answerClientError } from '../runtime/handshake.js';

const say = (line: string): void => void process.stdout.write(`wsactor: ${line}\n`);
const complain = (line: string): void => void process.stderr.write(`wsactor: ${line}\n`);

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
}

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * What went wrong while the server was stopping: any error or warning logged then (a client
 * cut at the stop timeout, a hook that failed) makes the stop not clean.
 */
class StopWatch {
  readonly problems: string[] = [];
  server: WsActorServer<unknown> | null = null;

  logger(inner: Logger): Logger {
    const note = (message: string): void => {
      const state = this.server?.state;
      if (state === 'stopping' || state === 'stopped') this.problems.push(message);
    };
    return {
      error: (message, error) => {
        note(message);
        inner.error(message, error);
      },
      warn: (message, error) => {
        note(message);
        inner.warn(message, error);
      },
    };
  }

  /** Why the stop was not clean, or null when it was. */
  verdict(): string | null {
    const cut = this.server?.stats.stopCut ?? 0;
    if (cut > 0) return `${cut} clients cut at the stop timeout`;
    return this.problems.length === 0 ? null : this.problems[0] ?? 'a problem was logged';
  }
}

function readFile(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new UsageError(`Cannot read ${flag} ${file}: ${(error as NodeJS.ErrnoException).code ?? firstLine(error)}`);
  }
}

/** The `tls` option: the module's, with --tls-cert/--tls-key (and $WSACTOR_TLS_PASSPHRASE) over it. */
function tlsOf(args: CliArgs, mod: AppModule): TlsOptions | undefined {
  const base = mod.options.tls;
  if (args.tlsCert === undefined || args.tlsKey === undefined) return base;
  const passphrase = process.env.WSACTOR_TLS_PASSPHRASE;
  return {
    ...(base ?? {}),
    cert: readFile(args.tlsCert, '--tls-cert'),
    key: readFile(args.tlsKey, '--tls-key'),
    ...(passphrase === undefined || passphrase === '' ? {} : { passphrase }),
  };
}

/** Server options but the placement (host, port) and the cluster ones. */
function appOptions(args: CliArgs, mod: AppModule, watch: StopWatch): ServerOptions {
  const o = mod.options;
  if (o.server !== undefined) throw new UsageError(`${mod.name} exports options.server: the wsactor command listens itself (drop it, or call createServer in your own script)`);
  return {
    ...o,
    path: args.path ?? o.path,
    tls: tlsOf(args, mod),
    stopTimeoutMs: args.stopTimeoutMs ?? o.stopTimeoutMs,
    logger: watch.logger(o.logger ?? consoleLogger),
  };
}

/** Checks options as createServer would, before anything starts; a bad one is a usage error. */
function check(options: ServerOptions, logger: Logger | undefined): void {
  try {
    resolveOptions({ ...options, logger });
  } catch (error) {
    if (error instanceof InvalidOptionError) throw new UsageError(error.message);
    throw error;
  }
}

function urlOf(tls: boolean, host: string, port: number, path: string | undefined): string {
  const shown = host.includes(':') ? `[${host}]` : host;
  return `${tls ? 'wss' : 'ws'}://${shown}:${port}${path ?? '/'}`;
}

function closeHttp(http: HttpServer): Promise<void> {
  return new Promise((resolve) => {
    http.close(() => resolve());
    http.closeAllConnections();
  });
}

/** Listens on `port` (or, with `span` > 1, the first free one of `port` .. `port + span - 1`). */
async function listenObserve(http: HttpServer, host: string, port: number, span: number, exclusive: boolean): Promise<number> {
  // The first free port from `port` up (a bounded scan): workers, and anything else there, skip busy ones.
  const last = port === 0 ? 0 : Math.min(65535, port + span - 1 + 100);
  for (let candidate = port; ; candidate++) {
    try {
      await new Promise<void>((resolve, reject) => {
        http.once('error', reject);
        http.listen({ port: candidate, host, exclusive }, () => {
          http.off('error', reject);
          resolve();
        });
      });
      const address = http.address();
      return address !== null && typeof address === 'object' ? address.port : candidate;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EADDRINUSE' || candidate >= last) throw new Error(`Cannot listen on observability port ${host}:${candidate}: ${code ?? firstLine(error)}`, { cause: error });
    }
  }
}

/**
 * Attaches what the flags ask for to `server` (before it starts): the lifecycle log, and
 * the live view and metrics on their own HTTP server. Returns what closes them.
 */
async function attachObservers(server: WsActorServer<unknown>, args: CliArgs, inCluster: boolean): Promise<() => Promise<void>> {
  const closers: (() => void | Promise<void>)[] = [];
  const close = async (): Promise<void> => {
    for (const closer of closers.reverse()) await closer();
  };
  try {
    if (args.lifecycleLog !== undefined) {
      const log = jsonLinesWriter(args.lifecycleLog);
      server.lifecycle.subscribe(log.listener);
      closers.push(() => log.close());
    }
    if (args.liveView || args.metrics) {
      const view = args.liveView ? (await import('../observe/live-view.js')).createLiveView(server) : null;
      if (view !== null) closers.push(() => view.close());
      const metrics = args.metrics ? (await import('../observe/metrics.js')).createMetrics(server) : null;
      if (metrics !== null) closers.push(() => metrics.close());
      const http = createHttpServer((req, res) => {
        if (view?.handle(req, res) || metrics?.handle(req, res)) return;
        res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Not Found');
      });
      http.on('clientError', answerClientError);
      const port = await listenObserve(http, args.observeHost, args.observePort, inCluster ? args.workers : 1, inCluster);
      closers.push(() => closeHttp(http));
      const base = `http://${args.observeHost.includes(':') ? `[${args.observeHost}]` : args.observeHost}:${port}`;
      const who = inCluster ? `worker ${process.pid}: ` : '';
      if (view !== null) say(`${who}live view at ${base}/_wsactor`);
      if (metrics !== null) say(`${who}metrics at ${base}/metrics`);
    }
  } catch (error) {
    await close();
    throw error;
  }
  return close;
}

/** SIGHUP reloads --tls-cert and --tls-key into `server`; without them it is only noted (never fatal). */
function reloadOnHangup(server: WsActorServer<unknown>, args: CliArgs, mod: AppModule): void {
  if (args.tlsCert === undefined) {
    process.on('SIGHUP', () => complain('SIGHUP: nothing to reload (no --tls-cert/--tls-key); ignored'));
    return;
  }
  process.on('SIGHUP', () => {
    try {
      const tls = tlsOf(args, mod);
      if (tls !== undefined) server.reloadTls(tls);
      say(`${cluster.isWorker ? `worker ${process.pid}: ` : ''}reloaded the TLS certificate from ${args.tlsCert}`);
    } catch (error) {
      complain(`TLS reload failed, the current certificate stays: ${firstLine(error)}`);
    }
  });
}

/** Resolves on the first SIGINT/SIGTERM; a second one exits at once with code 1. */
function stopSignal(onSecond: () => void): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let got: NodeJS.Signals | null = null;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (got !== null) {
        complain(`${signal} again: exiting without waiting for the stop`);
        onSecond();
        process.exit(EXIT.failed);
      }
      got = signal;
      say(`${signal}: stopping (clients get 1001)`);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

async function runStandalone(args: CliArgs, mod: AppModule): Promise<number> {
  const watch = new StopWatch();
  const host = args.host ?? mod.options.host ?? DEFAULT_HOST;
  const port = args.port ?? mod.options.port ?? DEFAULT_PORT;
  const options: ServerOptions = { ...appOptions(args, mod, watch), host, port };
  check(options, mod.options.logger);
  if (args.redis !== undefined) {
    const { redisAdapter } = await import('../cluster/redis-adapter.js');
    options.cluster = redisAdapter({ url: args.redis, logger: options.logger });
  }
  const app = await mod.makeApp({ workerId: 0, nodeId: null });
  const server = createServer(app, options);
  watch.server = server;
  const signalled = stopSignal(() => undefined);
  let detach: () => Promise<void>;
  try {
    detach = await attachObservers(server, args, false);
  } catch (error) {
    complain(`failed to start: ${firstLine(error)}`);
    return EXIT.failed;
  }
  try {
    await server.start();
  } catch (error) {
    complain(`failed to start: ${firstLine(error)}`);
    await detach();
    return EXIT.failed;
  }
  reloadOnHangup(server, args, mod);
  const bound = server.address()?.port ?? port;
  say(`serving ${mod.name} on ${urlOf(options.tls !== undefined, host, bound, options.path)} (pid ${process.pid})`);
  if (args.lifecycleLog !== undefined) say(`lifecycle log: ${args.lifecycleLog}`);
  await signalled;
  await server.stop();
  await detach();
  const problem = watch.verdict();
  if (problem === null) {
    say('stopped cleanly');
    return EXIT.ok;
  }
  complain(`stopped, not cleanly: ${problem}`);
  return EXIT.failed;
}

async function runClustered(args: CliArgs, mod: AppModule): Promise<number> {
  const watch = new StopWatch();
  const host = args.host ?? mod.options.host ?? DEFAULT_HOST;
  const port = args.port ?? mod.options.port ?? DEFAULT_PORT;
  const { host: _host, port: _port, ...rest } = appOptions(args, mod, watch);
  for (const name of ['cluster', 'nodeId'] as const) {
    if (rest[name] !== undefined) throw new UsageError(`${mod.name} exports options.${name}: with --workers the cluster sets it (use --redis to join workers over Redis)`);
  }
  check({ ...rest, host, port }, mod.options.logger);
  const serverStop = rest.stopTimeoutMs ?? 30_000;
  const events: ClusterEvent[] = [];
  const { runCluster } = await import('../cluster/cluster.js');
  const handle = runCluster({
    workers: args.workers,
    host,
    port,
    redis: args.redis === undefined ? null : { url: args.redis },
    // Workers close their clients first; the primary kills only those still running well after.
    stopTimeoutMs: serverStop === null ? MAX_TIMER_MS : Math.min(MAX_TIMER_MS, Math.max(60_000, serverStop + 10_000)),
    handleSignals: !cluster.isPrimary,
    onEvent: cluster.isPrimary ? (event) => events.push(event) : null,
    setup: async (context) => {
      const app = await mod.makeApp(context);
      return {
        app,
        options: rest,
        attach: async (server) => {
          watch.server = server;
          reloadOnHangup(watch.server, args, mod);
          // The worker exits 0 after its stop; say 1 when that stop was not clean.
          process.on('exit', (code) => {
            const problem = code === 0 ? watch.verdict() : null;
            if (problem === null) return;
            complain(`worker ${process.pid} stopped, not cleanly: ${problem}`);
            process.exitCode = EXIT.failed;
          });
          return attachObservers(watch.server, args, true);
        },
      };
    },
  });
  if (!handle.isPrimary) return new Promise<number>(() => undefined);

  let signalled = false;
  const signal = stopSignal(() => {
    for (const worker of handle.workers()) process.kill(worker.pid, 'SIGKILL');
  }).then(() => {
    signalled = true;
    return 'signal' as const;
  });
  process.on('SIGHUP', () => {
    // Each worker reloads its TLS files, or notes that it has none.
    for (const worker of handle.workers()) process.kill(worker.pid, 'SIGHUP');
  });
  const stopOnSignal = signal.then(() => handle.stop());
  try {
    const ready = await handle.ready;
    const scheme = rest.tls !== undefined;
    say(`serving ${mod.name} on ${urlOf(scheme, host, ready.port, rest.path)} with ${ready.workers.length} workers (pids ${ready.workers.map((w) => w.pid).join(', ')})`);
    if (args.lifecycleLog !== undefined) say(`lifecycle log: ${args.lifecycleLog}`);
  } catch (error) {
    if (!signalled) {
      complain(`failed to start: ${firstLine(error)}`);
      return EXIT.failed;
    }
  }
  const how = await Promise.race([signal, handle.closed.then(() => 'ended' as const)]);
  if (how === 'ended' && !signalled) {
    complain('every worker exited: the cluster stopped by itself');
    return EXIT.failed;
  }
  const exitsBefore = events.filter((e) => e.type === 'exit').length;
  await stopOnSignal;
  const exits = events.filter((e): e is Extract<ClusterEvent, { type: 'exit' }> => e.type === 'exit').slice(exitsBefore);
  const bad = exits.filter((e) => e.code !== 0 || e.signal !== null);
  if (bad.length === 0) {
    say(`stopped cleanly (${exits.length} workers)`);
    return EXIT.ok;
  }
  complain(`stopped, not cleanly: ${bad.map((e) => `worker ${e.worker.pid} exited with ${e.signal ?? `code ${String(e.code)}`}`).join(', ')}`);
  return EXIT.failed;
}

/** Runs the command with `argv` (without `node` and the script); resolves with the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    const args = readArgs(argv);
    if (args.help) {
      process.stdout.write(HELP);
      return EXIT.ok;
    }
    if (args.version) {
      process.stdout.write(`${version()}\n`);
      return EXIT.ok;
    }
    const mod = await loadAppModule(args.module);
    return args.workers > 1 ? await runClustered(args, mod) : await runStandalone(args, mod);
  } catch (error) {
    if (error instanceof UsageError) {
      complain(`${error.message} (see wsactor --help)`);
      return EXIT.usage;
    }
    if (error instanceof InvalidOptionError) {
      complain(`${error.message} (see wsactor --help)`);
      return EXIT.usage;
    }
    complain(`failed: ${firstLine(error)}`);
    return EXIT.failed;
  }
}
