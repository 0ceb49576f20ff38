/**
 * The server: owns the supervisor actor (start and stop), the listening (or borrowed) HTTP
 * server and the directory of live connections. Upgrades pass the UpgradeGate, then the
 * connection's handshake; the 101 is written by the WsUpgrader.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { createActor, fromPromise, waitFor, type Actor } from 'xstate';
import { NODE_ID_SHIFT, type AdapterStats } from '../cluster/adapter.js';
import { ClientEndpoint } from '../endpoint/endpoint.js';
import type { Endpoint } from '../endpoint/types.js';
import { HookError, InvalidOptionError, ListenError, ServerStateError } from '../errors.js';
import { supervisorMachine } from '../machines/supervisor.js';
import { resolveOptions, type ResolvedOptions, type ServerOptions } from '../options.js';
import { checkTlsReload, type TlsOptions } from '../tls.js';
import type { Websocket } from '../types.js';
import { Connection } from './connection.js';
import type { ConnectionHost } from './connection-host.js';
import { MachineConnection } from './machine-connection.js';
import { answerClientError, type HandshakeDecision } from './handshake.js';
import { callHook } from './hooks.js';
import { LifecycleStream } from './lifecycle-events.js';
import { ServerStats } from './stats.js';
import { awaitsStopHint, stopDeadline, warnIfStartHangs } from './stop-deadline.js';
import { attachRoute } from './upgrade-router.js';
import { UpgradeGate } from './upgrade-gate.js';
import { ServerServices } from './services.js';
import { checkXStateInternals } from './actor-root.js';
import { checkWsInternals } from './ws-internals.js';
import { WsUpgrader } from './ws-upgrader.js';

/**
 * Client ids are unique in the process and never reused, across servers too; the node id
 * above 2^32 makes them unique in a cluster (see src/cluster/adapter.ts).
 */
let nextClientId = 1;

function supervisorFor(start: () => Promise<void>, stop: () => Promise<void>) {
  return supervisorMachine.provide({
    actors: { start: fromPromise(start), stop: fromPromise(stop) },
  });
}

/** Server lifecycle states, as the supervisor actor names them. */
export type ServerState = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';

/** A running (or runnable) wsactor server. Create it with {@link createServer}. */
export class WsActorServer<H = unknown> {
  /** The Endpoint handed to `onStart`; usable from outside the app too. */
  readonly endpoint: Endpoint;
  readonly #endpoint: ClientEndpoint;
  /** Server-wide message, byte and backpressure counters (read by metrics). */
  readonly stats = new ServerStats();
  /** Lifecycle transitions of the server and of every connection; subscribe to watch them. */
  readonly lifecycle: LifecycleStream;
  /**
   * The supervisor actor. Connection actors are not its children: they are children of a
   * per-server root actor that ignores every event (see actor-root.ts, docs/lifecycle.md).
   */
  readonly supervisor: Actor<ReturnType<typeof supervisorFor>>;
  readonly #options: ResolvedOptions;
  readonly #app: Websocket<H>;
  readonly #open = new Map<number, Connection>();
  readonly #live = new Set<Connection>();
  /** Connections that still hold their socket: what `maxConnections` counts. */
  readonly #withSocket = new Set<Connection>();
  readonly #gate: UpgradeGate;
  readonly #upgrader: WsUpgrader;
  #http: HttpServer | null = null;
  /** Attach mode: leaves the borrowed server's upgrade router. */
  #detach: (() => void) | null = null;
  #accepting = false;
  #idleWaiters: (() => void)[] = [];
  #startPromise: Promise<void> | null = null;
  #stopPromise: Promise<void> | null = null;
  readonly #host: ConnectionHost;
  /** Shared by this server's connections; disposed once stopped and idle. */
  readonly #services: ServerServices;

  constructor(app: Websocket<H>, options: ServerOptions = {}) {
    checkWsInternals();
    checkXStateInternals();
    this.#options = resolveOptions(options);
    if (app.clientMachine !== undefined && this.#options.concurrency !== 1) {
      throw new InvalidOptionError('Option "concurrency" must be 1 for an app with a clientMachine (its events are strictly one at a time)');
    }
    this.#app = app;
    this.#endpoint = new ClientEndpoint(this.#open, this.#options.nodeId, this.#options.logger);
    this.endpoint = this.#endpoint;
    this.lifecycle = new LifecycleStream(this.#options.logger);
    this.#upgrader = new WsUpgrader(this.#options);
    this.#gate = new UpgradeGate({
      options: this.#options,
      lifecycle: this.lifecycle,
      isAccepting: () => this.#accepting,
      connectionCount: () => this.#withSocket.size,
      admit: (req, socket, head, subprotocols) => this.#admit(req, socket, head, subprotocols),
    });
    const { inspect } = this.#options;
    this.supervisor = createActor(
      supervisorFor(
        () => this.#doStart(),
        () => this.#doStop(),
      ),
      inspect === null ? {} : { inspect },
    );
    let serverState: string | null = null;
    this.supervisor.subscribe({
      next: (snapshot) => {
        const to = String(snapshot.value);
        if (to === serverState) return;
        const from = serverState;
        serverState = to;
        if (this.lifecycle.active) this.lifecycle.emit({ kind: 'server', from, to, at: this.#options.clock.now() });
      },
      error: (error) => this.#options.logger.error('supervisor failed', error),
    });
    this.supervisor.start();
    this.#services = new ServerServices(this.#options, this.#app);
    this.#host = this.#makeHost();
  }

  /** Current lifecycle state of the server. */
  get state(): ServerState {
    return this.supervisor.getSnapshot().value;
  }

  /** The app's per-client machine (`app.clientMachine`), or null without one; read-only (the live view draws it). */
  get clientMachine(): NonNullable<Websocket<H>['clientMachine']> | null {
    return this.#app.clientMachine ?? null;
  }

  /** Counters of the cluster adapter (messages, gaps, timeouts, reconnects), or null without one. */
  get clusterStats(): Readonly<AdapterStats> | null {
    return this.#options.cluster?.stats ?? null;
  }

  /** This server's node id: from the cluster adapter once started, else the `nodeId` option. */
  get nodeId(): number {
    return this.#endpoint.nodeId;
  }

  /** Address the server listens on while running (in attach mode: the borrowed server's), else null. */
  address(): AddressInfo | null {
    if (this.state !== 'running') return null;
    const address = (this.#http ?? this.#options.server)?.address();
    return address !== null && typeof address === 'object' ? address : null;
  }

  /**
   * Swaps the TLS certificate (key, chain and the rest of the TLS context) of a server made
   * with the `tls` option, without a restart: connections made from now on get the new one,
   * open ones keep theirs. `tls` is checked like the option (`requestCert`,
   * `rejectUnauthorized` and `SNICallback` must stay as they are); a bad one throws
   * `InvalidOptionError` and the old certificate stays. Without `tls`: `ServerStateError`.
   */
  reloadTls(tls: TlsOptions): void {
    const current = this.#options.tls;
    if (current === undefined) throw new ServerStateError('reloadTls(): this server was created without the "tls" option');
    const next = checkTlsReload(tls, current);
    this.#options.tls = next;
    (this.#http as HttpsServer | null)?.setSecureContext(next as Parameters<HttpsServer['setSecureContext']>[0]);
  }

  /** Runs `onStart`, then listens (or attaches). Rejects, leaving nothing listening, if either fails. */
  start(): Promise<void> {
    if (this.#stopPromise !== null) {
      const why = this.state === 'failed' ? 'failed to start' : 'was stopped';
      return Promise.reject(new ServerStateError(`Server ${why}; create a new one`));
    }
    if (this.#startPromise !== null) return this.#startPromise;
    this.supervisor.send({ type: 'server.start' });
    this.#startPromise = waitFor(this.supervisor, (s) => s.value !== 'starting').then((s) => {
      if (s.value !== 'running') throw s.context.error;
    });
    return this.#startPromise;
  }

  /**
   * Stops: new upgrades get 503, `onStop` runs once, every client is closed with 1001, and
   * this resolves after every `onClose` settled and every socket is gone. Safe to call twice.
   */
  stop(): Promise<void> {
    if (this.#stopPromise !== null) return this.#stopPromise;
    const started = this.#startPromise ?? Promise.resolve();
    if (this.state === 'starting') warnIfStartHangs(started, this.#options.clock, this.#options.stopTimeoutMs, this.#options.logger);
    this.#stopPromise = started
      .catch(() => undefined)
      .then(async () => {
        if (this.state === 'running' || this.state === 'idle') this.supervisor.send({ type: 'server.stop' });
        await waitFor(this.supervisor, (s) => s.status === 'done');
      });
    return this.#stopPromise;
  }

  async #doStart(): Promise<void> {
    const app = this.#app;
    // Joined before onStart, so the Endpoint handed to it already reaches other nodes.
    await this.#join();
    if (app.onStart !== undefined) {
      const outcome = await callHook(() => app.onStart?.(this.endpoint));
      if (!outcome.ok) {
        const error = new HookError('onStart', null, outcome.error);
        this.#options.logger.error(error.message, outcome.error);
        await this.#leave();
        throw error;
      }
    }
    try {
      await this.#listen();
    } catch (error) {
      await this.#runOnStop();
      await this.#leave();
      throw error;
    }
    this.#accepting = true;
  }

  async #join(): Promise<void> {
    const adapter = this.#options.cluster;
    if (adapter === null) return;
    const nodeId = await adapter.join((request, payload) => this.#endpoint.serve(request, payload));
    this.#endpoint.joined(nodeId, adapter);
  }

  async #leave(): Promise<void> {
    const adapter = this.#options.cluster;
    if (adapter === null) return;
    this.#endpoint.left();
    try {
      await adapter.leave();
    } catch (error) {
      this.#options.logger.error('cluster adapter failed to leave', error);
    }
  }

  async #listen(): Promise<void> {
    const attached = this.#options.server;
    if (attached !== undefined) {
      const gate = this.#gate;
      const route = {
        matches: (req: IncomingMessage) => gate.matchesPath(req),
        handle: gate.onUpgrade,
        refused: (req: IncomingMessage, status: number, reason: string) => gate.reportRefused(req, status, reason),
      };
      this.#detach = attachRoute(attached, route, { clock: this.#options.clock, timeoutMs: this.#options.handshakeTimeoutMs });
      return;
    }
    const { handshakeTimeoutMs: timeout, tls } = this.#options;
    // Slowloris: a request whose headers are not complete in time is dropped by Node itself.
    const limits = { headersTimeout: timeout, requestTimeout: timeout, connectionsCheckingInterval: Math.min(1000, timeout) };
    let http: HttpServer;
    if (tls === undefined) http = createHttpServer(limits);
    else {
      // The TLS handshake has the same deadline. A client that does not speak TLS (plain
      // HTTP, ws://) or fails the handshake: its socket is closed, nothing is logged.
      const https = createHttpsServer({ ...(tls as Parameters<typeof createHttpsServer>[0]), ...limits, handshakeTimeout: timeout });
      https.on('tlsClientError', (_error, socket) => socket.destroy());
      http = https;
    }
    http.on('upgrade', this.#gate.onUpgrade);
    http.on('request', this.#gate.onRequest);
    http.on('clientError', answerClientError);
    const { port, host } = this.#options;
    await new Promise<void>((resolve, reject) => {
      const failed = (error: Error & { code?: string }): void => reject(new ListenError(error.code, host, port, error));
      http.once('error', failed);
      http.listen(port, host, () => {
        http.off('error', failed);
        resolve();
      });
    });
    http.on('error', (error) => this.#options.logger.error('http server error', error));
    this.#http = http;
  }

  async #doStop(): Promise<void> {
    this.#accepting = false;
    // One deadline for the whole stop (S2.5), onStop included.
    const { stopTimeoutMs, clock, logger } = this.#options;
    const deadline = stopDeadline(clock, stopTimeoutMs);
    const onStop = this.#runOnStop().then(() => true);
    if (!(await (deadline.passed === null ? onStop : Promise.race([onStop, deadline.passed])))) {
      logger.warn(
        `stop(): onStop did not settle within stopTimeoutMs (${stopTimeoutMs} ms); the clients are closed and cut without waiting for it. ` +
          awaitsStopHint('onStop'),
      );
    }
    for (const conn of this.#open.values()) conn.beginClose({ kind: 'server-stop' });
    await this.#whenIdleOrCut(deadline.passed);
    deadline.clear();
    this.#detach?.();
    this.#detach = null;
    const http = this.#http;
    if (http !== null) {
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
    }
    this.#gate.destroyRefused();
    // Clients cut at the deadline may still run hooks: they release the services last.
    if (this.#live.size === 0) this.#services.dispose();
    await this.#leave();
  }

  async #runOnStop(): Promise<void> {
    const app = this.#app;
    if (app.onStop === undefined) return;
    const outcome = await callHook(() => app.onStop?.());
    if (!outcome.ok) this.#options.logger.error(new HookError('onStop', null, outcome.error).message, outcome.error);
  }

  /** Waits for every connection to be released, until `deadline` (null: none); then cuts the rest. */
  async #whenIdleOrCut(deadline: Promise<false> | null): Promise<void> {
    const { stopTimeoutMs, logger } = this.#options;
    if (deadline === null || this.#live.size === 0) return this.#whenIdle();
    const idle = await Promise.race([this.#whenIdle().then(() => true), deadline]);
    if (idle) return;
    const waiting = new Map<string, number[]>();
    for (const conn of [...this.#live]) {
      const hook = conn.cut();
      waiting.set(hook, [...(waiting.get(hook) ?? []), conn.id]);
      this.stats.stopCut++;
    }
    const detail = [...waiting].map(([hook, ids]) => `${ids.length} waiting for ${hook} (clients ${ids.slice(0, 10).join(', ')}${ids.length > 10 ? ', ...' : ''})`);
    // Only a hook that runs for an open client can be one that awaits stop() (waiting for itself).
    const hint = waiting.has('onData') || waiting.has('onOpen') || waiting.has('onClose')
      ? ` ${awaitsStopHint('one of these hooks')}`
      : '';
    logger.warn(`stop(): stopTimeoutMs (${stopTimeoutMs} ms) passed with ${this.stats.stopCut} clients still live; cut them off: ${detail.join('; ')}.${hint}`);
  }

  #whenIdle(): Promise<void> {
    if (this.#live.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #admit(req: IncomingMessage, socket: Duplex, head: Buffer, subprotocols: string[]): void {
    const id = this.#endpoint.nodeId * NODE_ID_SHIFT + nextClientId++;
    const upgrade = { req, socket, head, subprotocols };
    const conn = this.#app.clientMachine === undefined ? new Connection(id, this.#host, upgrade) : new MachineConnection(id, this.#host, upgrade);
    this.#live.add(conn);
    this.#withSocket.add(conn);
    conn.start();
  }

  #makeHost(): ConnectionHost {
    return {
      app: this.#app,
      options: this.#options,
      services: this.#services,
      endpoint: this.endpoint,
      lifecycle: this.lifecycle,
      stats: this.stats,
      isAccepting: () => this.#accepting,
      upgrade: (conn: Connection, decision: HandshakeDecision | null, onUpgraded: (ws: WebSocket) => void) => {
        const { req, socket, head } = conn.upgradeRequest;
        this.#upgrader.upgrade(req, socket, head, decision, onUpgraded);
      },
      opened: (conn: Connection) => {
        this.#open.set(conn.id, conn);
      },
      socketGone: (conn: Connection) => {
        this.#withSocket.delete(conn);
      },
      released: (conn: Connection) => {
        this.#withSocket.delete(conn);
        this.#open.delete(conn.id);
        this.#live.delete(conn);
        if (this.#live.size === 0) {
          // Stopped with clients cut at the deadline: the last one out releases the services,
          // after its actor's final step has reported to the root.
          if (this.#stopPromise !== null && !this.#accepting) setImmediate(() => this.#services.dispose());
          const waiters = this.#idleWaiters;
          this.#idleWaiters = [];
          for (const resolve of waiters) resolve();
        }
      },
    };
  }
}

/**
 * Creates a server for `app`. Options are validated now: an unknown option or a bad value
 * throws {@link InvalidOptionError}.
 */
export function createServer<H>(app: Websocket<H>, options?: ServerOptions): WsActorServer<H> {
  return new WsActorServer(app, options);
}
