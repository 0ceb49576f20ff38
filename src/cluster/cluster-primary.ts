/**
 * The primary side of {@link runCluster}: forks workers, hands out node ids, waits for them
 * to start, replaces crashed ones (bounded), and stops them all gracefully.
 */
import cluster, { type Worker } from 'node:cluster';
import { MAX_NODE_ID } from './adapter.js';
import { ClusterError } from '../errors.js';
import { ADAPTER_ASSIGNS, asWorkerMessage, ENV, tagged, type PrimaryMessage } from './cluster-protocol.js';
import type { ClusterEvent, ClusterHandle, ClusterReady, ClusterWorker, ForkedWorker, ResolvedClusterOptions } from './cluster.js';

interface Member {
  readonly worker: Worker;
  readonly pid: number;
  /** From the primary, or from the worker's ready message when the adapter assigns it. */
  nodeId: number | null;
  /** Said hello: its runCluster() listens for the stop message. */
  listening: boolean;
  ready: boolean;
  /** Why it failed to start, as the worker reported it. */
  failure: string | null;
}

type State = 'starting' | 'running' | 'stopping' | 'stopped';

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: Error) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function describeWorker(member: Member): string {
  return member.nodeId === null ? `Worker ${member.pid}` : `Worker ${member.pid} (node ${member.nodeId})`;
}

function describeExit(code: number | null, signal: string | null): string {
  return signal === null ? `code ${String(code)}` : `signal ${signal}`;
}

class ClusterPrimary<H> implements ClusterHandle {
  readonly isPrimary = true;
  readonly #options: ResolvedClusterOptions<H>;
  readonly #members = new Map<number, Member>();
  readonly #ready = deferred<ClusterReady>();
  readonly #closed = deferred<void>();
  #state: State = 'starting';
  #nextNodeId = 1;
  #port: number | null = null;
  /** Times of recent crashes, for the restart bound. */
  #crashes: number[] = [];
  #gaveUp = false;
  readonly #allExited = deferred<void>();
  #startTimer: NodeJS.Timeout | null = null;
  #stopPromise: Promise<void> | null = null;
  #signal: NodeJS.Signals | null = null;

  constructor(options: ResolvedClusterOptions<H>) {
    this.#options = options;
    this.ready = this.#ready.promise;
    this.closed = this.#closed.promise;
  }

  readonly ready: Promise<ClusterReady>;
  readonly closed: Promise<void>;

  start(): void {
    // Read at the first fork of the process (later changes are ignored); Windows defaults to the OS's scheduling.
    cluster.schedulingPolicy = cluster.SCHED_RR;
    if (this.#options.handleSignals) {
      process.on('SIGINT', this.#onSignal);
      process.on('SIGTERM', this.#onSignal);
    }
    this.#startTimer = setTimeout(() => {
      const waiting = [...this.#members.values()].filter((m) => !m.ready).map(describeWorker);
      this.#fail(new ClusterError(`Cluster did not start within ${this.#options.startTimeoutMs} ms: ${waiting.join(', ')} not ready`));
    }, this.#options.startTimeoutMs);
    for (let i = 0; i < this.#options.workers && this.#state === 'starting'; i++) this.#fork();
  }

  workers(): ClusterWorker[] {
    const running: ClusterWorker[] = [];
    for (const m of this.#members.values()) {
      if (m.ready && m.nodeId !== null) running.push({ pid: m.pid, workerId: m.worker.id, nodeId: m.nodeId });
    }
    return running;
  }

  stop(): Promise<void> {
    if (this.#stopPromise === null) {
      if (this.#state === 'starting') this.#rejectReady(new ClusterError('Cluster stopped before every worker started'));
      this.#stopPromise = this.#stopAll();
    }
    return this.#stopPromise;
  }

  #emit(event: ClusterEvent): void {
    try {
      this.#options.onEvent?.(event);
    } catch (error) {
      this.#options.logger.error('cluster onEvent listener threw', error);
    }
  }

  /** Forks one worker; false when no node id is left. */
  #fork(): boolean {
    const { exec, execArgv, args, env, host, adapter, redis } = this.#options;
    let nodeId: number | null = null;
    if (adapter === null && redis === null) {
      if (this.#nextNodeId > MAX_NODE_ID) {
        this.#options.logger.error(`Cluster ran out of node ids (${MAX_NODE_ID} forks); no worker forked`);
        return false;
      }
      nodeId = this.#nextNodeId++;
    }
    // Settings are global and merged: set all of them (Node's defaults when not given) before each fork.
    cluster.setupPrimary({
      exec: exec ?? process.argv[1],
      execArgv: [...(execArgv ?? process.execArgv)],
      args: [...(args ?? process.argv.slice(2))],
    });
    const worker = cluster.fork({
      ...env,
      [ENV.nodeId]: nodeId === null ? ADAPTER_ASSIGNS : String(nodeId),
      [ENV.port]: String(this.#listenPort()),
      ...(host === undefined ? {} : { [ENV.host]: host }),
    });
    const member: Member = { worker, pid: worker.process.pid ?? 0, nodeId, listening: false, ready: false, failure: null };
    this.#members.set(worker.id, member);
    worker.on('message', (message: unknown) => this.#onMessage(member, message));
    worker.on('exit', (code: number | null, signal: string | null) => this.#onExit(member, code, signal));
    // IPC errors (e.g. a send to a worker that just died); its exit event follows.
    worker.on('error', (error) => this.#options.logger.warn(`${describeWorker(member)}: IPC error`, error));
    this.#emit({ type: 'fork', worker: this.#forked(member) });
    return true;
  }

  /**
   * The configured port while another worker runs: Node's primary shares one listening
   * socket per (host, port) among workers, and asking for the port it picked for port 0
   * would be a second bind (EADDRINUSE). With no worker left that socket is closed, so
   * the port picked before is asked for by number, to keep it.
   */
  #listenPort(): number {
    const anyRunning = [...this.#members.values()].some((m) => m.ready);
    return this.#port !== null && !anyRunning ? this.#port : this.#options.port;
  }

  #forked(member: Member): ForkedWorker {
    return { pid: member.pid, workerId: member.worker.id, nodeId: member.nodeId };
  }

  #onMessage(member: Member, raw: unknown): void {
    const message = asWorkerMessage(raw);
    if (message === null) return;
    switch (message.type) {
      case 'hello':
        member.listening = true;
        if (this.#state === 'stopping') this.#tellStop(member);
        return;
      case 'failed':
        member.failure = message.message;
        if (this.#state === 'starting') this.#fail(new ClusterError(`${describeWorker(member)} failed to start: ${message.message}`));
        else if (this.#state === 'running') this.#options.logger.error(`${describeWorker(member)} failed to start: ${message.message}`);
        return;
      case 'ready':
        member.ready = true;
        member.nodeId = message.nodeId;
        this.#port ??= message.port;
        this.#emit({ type: 'ready', worker: { pid: member.pid, workerId: member.worker.id, nodeId: message.nodeId } });
        if (this.#state === 'starting' && [...this.#members.values()].every((m) => m.ready)) {
          this.#state = 'running';
          this.#clearStartTimer();
          this.#ready.resolve({ port: message.port, workers: this.workers() });
        }
        return;
    }
  }

  #onExit(member: Member, code: number | null, signal: string | null): void {
    this.#members.delete(member.worker.id);
    const stopping = this.#state === 'stopping' || this.#state === 'stopped';
    const crashed = !stopping && (code !== 0 || signal !== null);
    let respawned = false;
    if (this.#state === 'starting') {
      const why = member.failure ?? `exited with ${describeExit(code, signal)} before it started`;
      this.#fail(new ClusterError(`${describeWorker(member)} failed to start: ${why}`));
    } else if (this.#state === 'running') {
      if (crashed) respawned = this.#onCrash(member, code, signal);
      else this.#options.logger.warn(`${describeWorker(member)} exited with code 0; not replaced`);
    }
    this.#emit({ type: 'exit', worker: this.#forked(member), code, signal, crashed, respawned });
    if (this.#members.size > 0) return;
    if (this.#state === 'stopping') this.#allExited.resolve();
    else if (this.#state === 'running') {
      // Nothing left and nothing coming: the cluster is over.
      this.#options.logger.error('Every cluster worker has exited; the cluster is stopped');
      void this.stop();
    }
  }

  /** Replaces a crashed worker unless the restart bound is spent; returns whether it did. */
  #onCrash(member: Member, code: number | null, signal: string | null): boolean {
    const { maxRestarts, restartWindowMs, logger } = this.#options;
    const now = Date.now();
    this.#crashes = this.#crashes.filter((at) => now - at < restartWindowMs);
    this.#crashes.push(now);
    const what = `${describeWorker(member)} crashed (${describeExit(code, signal)})`;
    if (this.#gaveUp || this.#crashes.length > maxRestarts) {
      if (!this.#gaveUp) {
        this.#gaveUp = true;
        logger.error(`${what}; ${this.#crashes.length} crashes within ${restartWindowMs} ms, over maxRestarts ${maxRestarts}: crashed workers are no longer replaced`);
        this.#emit({ type: 'gave-up', crashes: this.#crashes.length, windowMs: restartWindowMs });
      } else {
        logger.error(`${what}; not replaced (restart limit reached)`);
      }
      return false;
    }
    logger.warn(`${what}; forking a replacement`);
    return this.#fork();
  }

  #fail(error: ClusterError): void {
    if (this.#state !== 'starting') return;
    // The stop settles first, so a caller that sees the rejection finds no worker left.
    this.#stopPromise = this.#stopAll().then(() => this.#rejectReady(error));
  }

  #rejectReady(error: ClusterError): void {
    this.#clearStartTimer();
    this.#ready.reject(error);
  }

  #clearStartTimer(): void {
    if (this.#startTimer !== null) clearTimeout(this.#startTimer);
    this.#startTimer = null;
  }

  #tellStop(member: Member): void {
    if (!member.listening || !member.worker.isConnected()) {
      // Not yet listening for our message (or IPC gone): the worker's SIGTERM handler, or
      // the default action before it is installed, ends it just as well.
      member.worker.process.kill('SIGTERM');
      return;
    }
    const message = tagged<PrimaryMessage>({ type: 'stop' });
    member.worker.send(message, (error: Error | null) => {
      if (error !== null) member.worker.process.kill('SIGTERM');
    });
  }

  async #stopAll(): Promise<void> {
    this.#state = 'stopping';
    this.#clearStartTimer();
    if (this.#members.size > 0) {
      for (const member of this.#members.values()) this.#tellStop(member);
      const killTimer = setTimeout(() => {
        for (const member of this.#members.values()) {
          this.#options.logger.error(`${describeWorker(member)} did not stop within ${this.#options.stopTimeoutMs} ms; killing it`);
          member.worker.process.kill('SIGKILL');
        }
      }, this.#options.stopTimeoutMs);
      await this.#allExited.promise;
      clearTimeout(killTimer);
    }
    this.#state = 'stopped';
    this.#removeSignalHandlers();
    this.#closed.resolve();
  }

  readonly #onSignal = (signal: NodeJS.Signals): void => {
    if (this.#signal !== null) {
      // A second Ctrl-C: do not wait for the graceful stop.
      for (const member of this.#members.values()) member.worker.process.kill('SIGKILL');
      return;
    }
    this.#signal = signal;
    this.#ready.promise.catch(() => undefined); // the stop's rejection of `ready` is expected here
    void this.stop().then(() => {
      // Default action now (exit by this signal), unless the app listens for it itself.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  };

  #removeSignalHandlers(): void {
    process.off('SIGINT', this.#onSignal);
    process.off('SIGTERM', this.#onSignal);
  }
}

/** Starts the primary: forks the workers and returns the handle at once. */
export function startPrimary<H>(options: ResolvedClusterOptions<H>): ClusterHandle {
  const primary = new ClusterPrimary(options);
  primary.start();
  return primary;
}
