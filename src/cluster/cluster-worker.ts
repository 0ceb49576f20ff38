/**
 * The worker side of {@link runCluster}: runs `setup`, starts one server on the shared port,
 * reports to the primary, and stops gracefully (then exits) on the primary's word, on
 * SIGINT/SIGTERM, or when the primary is gone.
 */
import cluster from 'node:cluster';
import { ClusterError, describe } from '../errors.js';
import { createServer, type WsActorServer } from '../runtime/server.js';
import type { ClusterAdapter } from './adapter.js';
import { redisAdapter } from './redis-adapter.js';
import { ADAPTER_ASSIGNS, asPrimaryMessage, ENV, tagged, type WorkerMessage } from './cluster-protocol.js';
import type { ClusterHandle, ClusterReady, ClusterWorker, ClusterWorkerContext, ResolvedClusterOptions } from './cluster.js';

/** Server options the cluster sets; a `setup` that gives them is refused. */
const reserved = ['host', 'port', 'server', 'nodeId', 'cluster'] as const;

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined || !process.connected) {
      resolve();
      return;
    }
    process.send(message, undefined, {}, () => resolve());
  });
}

class ClusterWorkerProcess<H> implements ClusterHandle {
  readonly isPrimary = false;
  readonly ready: Promise<ClusterReady>;
  readonly closed: Promise<void>;
  readonly #options: ResolvedClusterOptions<H>;
  #server: WsActorServer<H> | null = null;
  /** What `setup`'s `attach` returned: closes what it opened, after the server stopped. */
  #detach: (() => void | Promise<void>) | null = null;
  #self: ClusterWorker | null = null;
  #stopping = false;
  #stopPromise: Promise<void> | null = null;
  #closedResolve!: () => void;

  constructor(options: ResolvedClusterOptions<H>) {
    this.#options = options;
    this.closed = new Promise((resolve) => (this.#closedResolve = resolve));
    process.on('message', this.#onMessage);
    // Primary gone (IPC closed): nobody would stop us otherwise.
    process.on('disconnect', this.#onStopRequest);
    if (options.handleSignals) {
      process.on('SIGINT', this.#onStopRequest);
      process.on('SIGTERM', this.#onStopRequest);
    }
    void send(tagged<WorkerMessage>({ type: 'hello' }));
    this.ready = this.#start();
    // The primary is told about a failure; an unobserved rejection must not crash us before that.
    this.ready.catch(() => undefined);
  }

  workers(): ClusterWorker[] {
    return this.#self === null || this.#stopping ? [] : [this.#self];
  }

  stop(): Promise<void> {
    this.#stopPromise ??= this.#stop();
    return this.#stopPromise;
  }

  async #start(): Promise<ClusterReady> {
    try {
      const ready = await this.#startServer();
      await send(tagged<WorkerMessage>({ type: 'ready', nodeId: ready.workers[0]?.nodeId ?? 0, port: ready.port }));
      return ready;
    } catch (error) {
      const failure = error instanceof ClusterError ? error : new ClusterError(`Worker ${process.pid} failed to start: ${describe(error)}`, { cause: error });
      if (!this.#stopping) {
        await send(tagged<WorkerMessage>({ type: 'failed', message: describe(error) }));
        // Exit code 1: the primary counts it as a crash once the cluster runs.
        process.exit(1);
      }
      throw failure;
    }
  }

  async #startServer(): Promise<ClusterReady> {
    const { setup, adapter, redis, logger } = this.#options;
    const joins = adapter !== null || redis !== null;
    const assigned = process.env[ENV.nodeId];
    const port = Number(process.env[ENV.port] ?? this.#options.port);
    const host = process.env[ENV.host];
    const nodeId = assigned === undefined || assigned === ADAPTER_ASSIGNS ? null : Number(assigned);
    if (assigned === ADAPTER_ASSIGNS && !joins) {
      throw new ClusterError('The primary runs with "redis" (or "adapter") but this worker has neither: give both the same option');
    }
    if (nodeId !== null && joins) {
      throw new ClusterError('This worker has "redis" (or "adapter") but the primary does not: give both the same option');
    }
    if (setup === undefined) throw new ClusterError('runCluster() in a worker needs the "setup" option');
    const context: ClusterWorkerContext = { workerId: cluster.worker?.id ?? 0, nodeId };
    const { app, options = {}, attach } = await setup(context);
    const clash = reserved.filter((name) => (options as Record<string, unknown>)[name] !== undefined);
    if (clash.length > 0) throw new ClusterError(`setup() must not set ${clash.map((n) => `"${n}"`).join(', ')}: the cluster sets them`);
    if (this.#stopping) throw new ClusterError('Worker stopped before its server started');
    let joined: { cluster: ClusterAdapter } | { nodeId: number } = { nodeId: nodeId ?? 0 };
    if (adapter !== null) joined = { cluster: adapter(context) };
    else if (redis !== null) joined = { cluster: redisAdapter({ logger, ...redis }) };
    const server = createServer(app, { ...options, ...joined, port, host });
    this.#server = server;
    this.#detach = (await attach?.(server)) ?? null;
    await server.start();
    const address = server.address();
    if (address === null) throw new ClusterError('Worker server has no address after start');
    this.#self = { pid: process.pid, workerId: context.workerId, nodeId: server.nodeId };
    return { port: address.port, workers: [this.#self] };
  }

  async #stop(): Promise<void> {
    this.#stopping = true;
    await this.ready.catch(() => undefined);
    try {
      await this.#server?.stop();
    } catch (error) {
      this.#options.logger.error('Cluster worker: server stop failed', error);
    }
    try {
      await this.#detach?.();
    } catch (error) {
      this.#options.logger.error('Cluster worker: what setup attached failed to close', error);
    }
    this.#closedResolve();
    // Timers or sockets the app left open must not keep a stopped worker alive.
    process.exit(0);
  }

  readonly #onMessage = (message: unknown): void => {
    if (asPrimaryMessage(message) !== null) void this.stop();
  };

  readonly #onStopRequest = (): void => {
    void this.stop();
  };
}

/** Starts the worker side: the server starts in the background; `ready` tells how it went. */
export function startWorker<H>(options: ResolvedClusterOptions<H>): ClusterHandle {
  return new ClusterWorkerProcess(options);
}
