/**
 * One client connection: owns the connection actor and runs the app's hooks. The actor
 * decides the lifecycle and emits commands; this class carries them out, with the socket side
 * in ClientSocket (its base class: one object per connection). Data messages bypass the actor
 * (one event costs ~5 µs; see docs).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { createActor, type Actor } from 'xstate';
import type { WebSocket } from 'ws';
import type { CloseCause } from '../close-codes.js';
import type { ClientInfo } from '../endpoint/client-info.js';
import { HookError } from '../errors.js';
import {
  connectionMachine,
  serverInitiated,
  initialContext,
  type ConnectionCommand,
  type ConnectionContext,
  type ConnectionEvent,
  type ConnectionMachine,
  type ConnectionOutcome,
} from '../machines/connection.js';
import type { Websocket } from '../types.js';
import { createHandshakeRequest, HandshakeDecision, writeHttpRejection } from './handshake.js';
import { stopActor } from './actor-root.js';
import { ClientSocket } from './client-socket.js';
import type { InboundQueue } from './inbound-queue.js';
import { callHook } from './hooks.js';
import { callOnData } from './on-data.js';
import type { Message } from './message.js';
import type { HookTiming, LifecycleState, LifecycleStream } from './lifecycle-events.js';
import type { SocketHost } from './outbound.js';

/** What a connection needs from its server (options, counters and shared services in SocketHost). */
export interface ConnectionHost extends SocketHost {
  readonly app: Websocket<unknown>;
  /** False once the server is stopping: late handshakes get 503. */
  isAccepting(): boolean;
  /** Writes the 101 through `ws`, then calls `onUpgraded` (never, if the socket died). */
  upgrade(conn: Connection, decision: HandshakeDecision, onUpgraded: (ws: WebSocket) => void): void;
  /** The connection is open: visible to the Endpoint from now on. */
  opened(conn: Connection): void;
  /** Where transitions are reported. */
  readonly lifecycle: LifecycleStream;
  /** The socket is gone (`onClose` may still be to run): it no longer counts for `maxConnections`. */
  socketGone(conn: Connection): void;
  /** The connection reached its final state. */
  released(conn: Connection): void;
}

export interface UpgradeRequest {
  req: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  subprotocols: string[];
}

/** What only the handshake needs; dropped once `onOpen` runs. */
interface Handshake {
  upgrade: UpgradeRequest | null;
  decision: HandshakeDecision | null;
  data: unknown;
  timer: unknown;
  rejectStatus: number | null;
  /** The raw socket's 'close' listener while handshaking. */
  onSocketClose: () => void;
}

const CLOSE_BEGUN = 1;
const RELEASED = 2;

export class Connection extends ClientSocket {
  /** The live actor, or null while hibernated (idle in `open.ready`). */
  #actor: Actor<ConnectionMachine> | null = null;
  protected declare readonly host: ConnectionHost;
  #handshake: Handshake | null;
  #flags = 0;
  #lifecycleState: LifecycleState | null = null;
  #lastHook: HookTiming | null = null;
  /** Used by the hibernation queue. */
  hibernateAt = 0;

  constructor(id: number, host: ConnectionHost, upgrade: UpgradeRequest) {
    super(id, host, upgrade.socket);
    const onSocketClose = (): void => {
      this.host.socketGone(this);
      this.#send({ type: 'conn.socket.gone' });
    };
    this.#handshake = { upgrade, decision: null, data: undefined, timer: null, rejectStatus: null, onSocketClose };
    upgrade.socket.on('close', onSocketClose);
  }

  /** Starts the actor, which asks for `onHandshake`. */
  start(): void {
    const { clock, handshakeTimeoutMs } = this.host.options;
    const handshake = this.#handshake as Handshake;
    // Without onHandshake the upgrade is done (or failed) before start() returns.
    if (this.host.app.onHandshake !== undefined) {
      handshake.timer = clock.setTimeout(() => {
        handshake.timer = null;
        this.#send({ type: 'conn.handshake.rejected', status: 503 });
      }, handshakeTimeoutMs);
    }
    this.#wake(false);
  }

  /** The connection's actor; wakes it if hibernated. */
  get actor(): Actor<ConnectionMachine> {
    return this.#wake(true);
  }

  /**
   * Creates (or re-creates) the actor. An idle open connection keeps no actor, only the fact
   * that it is in `open.ready`, whose context is always the initial one (the way idle Erlang
   * processes hibernate); this takes the per-connection memory close to raw `ws`.
   */
  #wake(restore: boolean): Actor<ConnectionMachine> {
    if (this.#actor !== null) return this.#actor;
    const { atOnce, actorRoot } = this.host.services;
    const actor = createActor(connectionMachine, {
      input: { clientId: this.id, settlesAtOnce: atOnce },
      parent: actorRoot,
      ...(restore ? { snapshot: connectionMachine.resolveState({ value: { open: 'ready' }, context: initialContext(this.id, atOnce) }) } : {}),
    });
    actor.on('*', (command) => this.#run(command));
    actor.subscribe({ error: (error) => this.#fatal(error) });
    this.#actor = actor;
    actor.start();
    return actor;
  }

  #send(event: ConnectionEvent): void {
    this.#wake(true).send(event);
  }

  /** Reports a transition on the lifecycle stream, with the hook that just settled. */
  #transition(to: LifecycleState, closeCode: number | null = null, closeReason: string | null = null, outcome: ConnectionOutcome | null = null): void {
    const from = this.#lifecycleState;
    this.#lifecycleState = to;
    const hook = this.#lastHook;
    this.#lastHook = null;
    const stream = this.host.lifecycle;
    if (!stream.active) return;
    stream.emit({
      kind: 'connection',
      clientId: this.id,
      from,
      to,
      at: this.host.options.clock.now(),
      hook,
      closeCode,
      closeReason,
      outcome,
      status: outcome === 'rejected' ? (this.#handshake?.rejectStatus ?? null) : null,
    });
  }

  /**
   * Called `HIBERNATE_AFTER_MS` after `onOpen` settled: drops the actor while nothing can
   * happen to the lifecycle but a close, and the inbound queue if it is idle (else tries again).
   */
  hibernate(): void {
    if (this.#flags !== 0) return;
    const actor = this.#actor;
    if (actor !== null && actor.getSnapshot().matches({ open: 'ready' })) {
      this.#actor = null;
      stopActor(actor);
    }
    if (!this.releaseIdleQueue()) this.host.services.hibernation.add(this);
  }

  /** The upgrade request this connection came from. */
  get upgradeRequest(): UpgradeRequest {
    const upgrade = this.#handshake?.upgrade;
    if (upgrade == null) throw new Error(`connection ${this.id} was already upgraded`);
    return upgrade;
  }

  /** True once the close began, here or by the peer's close frame (which `ws` already answered). */
  get closing(): boolean {
    return (this.#flags & CLOSE_BEGUN) !== 0 || this.peerClosing;
  }

  info(): ClientInfo {
    return this.snapshot();
  }

  /** `Endpoint.close`: begins a close with the app's code; undelivered messages are dropped. */
  closeByApp(code: number, reason: string): void {
    this.beginClose({ kind: 'app', code, reason });
  }

  /** Begins a close on behalf of the app, server or a failure. Ignored once closing. */
  beginClose(cause: CloseCause, socketGone = false): void {
    // The peer's close frame already arrived: its code wins, and `ws` reports it on 'close'.
    // (A protocol error also leaves ws closing, but then it is ws's own close we report.)
    const deferToPeer = cause.kind !== 'peer' && cause.kind !== 'dropped' && cause.kind !== 'protocol';
    if ((this.#flags & CLOSE_BEGUN) === 0 && deferToPeer && this.peerClosing) return;
    // What is already true goes with the event instead of an event of its own.
    const drained = this.inbound === null || this.inbound.idle;
    this.#send({ type: 'conn.close.begin', cause, socketGone, drained });
  }

  /** What the actor already knows (after conn.close.begin carried it), or is to skip. */
  #context(): ConnectionContext {
    return this.#wake(true).getSnapshot().context;
  }

  #run(command: ConnectionCommand): void {
    try {
      switch (command.type) {
        case 'cmd.handshake':
          this.#transition('handshaking');
          this.#guard(this.#handshakeHook());
          break;
        case 'cmd.upgrade':
          this.#transition('handshaking.upgrading');
          this.host.upgrade(this, this.#handshake?.decision as HandshakeDecision, (ws) => this.#attach(ws));
          break;
        case 'cmd.reject':
          if (this.#handshake !== null) this.#handshake.rejectStatus = command.status;
          this.#reject(command.status);
          break;
        case 'cmd.open':
          this.#transition('open.opening');
          this.state = 'open';
          this.host.opened(this);
          this.#guard(this.#open());
          break;
        case 'cmd.close':
          this.#transition('closing.draining', command.code, command.reason);
          this.#applyClose(command);
          break;
        case 'cmd.notifyClose':
          this.#transition('closing.notifying', command.code, command.reason);
          this.#guard(this.#notifyClose(command.code, command.reason));
          break;
        case 'cmd.release':
          this.#transition('closed', this.close_code, this.close_reason, command.outcome);
          this.#release();
          break;
      }
    } catch (error) {
      this.#fatal(error);
    }
  }

  /** A hook step runs detached from the actor: a bug in it must not become an unhandled rejection. */
  #guard(step: Promise<void>): void {
    step.catch((error: unknown) => this.#fatal(error));
  }

  async #handshakeHook(): Promise<void> {
    const { req, subprotocols } = this.upgradeRequest;
    const decision = new HandshakeDecision(subprotocols);
    const app = this.host.app;
    const started = performance.now();
    const outcome =
      app.onHandshake === undefined
        ? { ok: true as const, value: undefined }
        : await callHook(() => app.onHandshake?.(createHandshakeRequest(req, subprotocols), decision));
    decision.settled = true;
    // Settled after the handshake timed out, the socket went or the server stopped: the
    // connection was answered and released already; waking its actor now would be a bug.
    const handshake = this.#handshake;
    if (handshake === null || (this.#flags & RELEASED) !== 0) return;
    this.#lastHook = { name: 'onHandshake', durationMs: performance.now() - started, ok: outcome.ok };
    handshake.decision = decision;
    // No onHandshake: the machine accepted already (server.ts refused upgrades while stopping).
    if (this.#context().settlesAtOnce.accept) return;
    if (!outcome.ok) {
      this.host.options.logger.error(new HookError('onHandshake', null, outcome.error).message, outcome.error);
      this.#send({ type: 'conn.handshake.rejected', status: 500 });
    } else if (decision.rejection !== undefined) {
      this.#send({ type: 'conn.handshake.rejected', status: decision.rejection.status });
    } else if (!this.host.isAccepting()) {
      this.#send({ type: 'conn.handshake.rejected', status: 503 });
    } else {
      handshake.data = outcome.value;
      this.#send({ type: 'conn.handshake.accepted' });
    }
  }

  #reject(status: number): void {
    const decision = this.#handshake?.decision ?? null;
    const body = decision?.rejection?.status === status ? decision.rejection.body : defaultBody(status);
    writeHttpRejection(this.socket, status, body, decision?.headers ?? []);
  }

  #attach(ws: WebSocket): void {
    const handshake = this.#handshake as Handshake;
    handshake.upgrade = null;
    handshake.decision = null;
    this.#stopHandshakeWatch();
    this.attachSocket(ws);
    this.#send({ type: 'conn.upgraded' });
  }

  async #open(): Promise<void> {
    const inbound = this.inbound as InboundQueue;
    inbound.openStarted();
    const app = this.host.app;
    const data = this.#handshake?.data;
    this.#handshake = null;
    const started = performance.now();
    const outcome = app.onOpen === undefined ? { ok: true as const } : await callHook(() => app.onOpen?.(this.id, data));
    if ((this.#flags & RELEASED) !== 0) return;
    this.#lastHook = { name: 'onOpen', durationMs: performance.now() - started, ok: outcome.ok };
    if (outcome.ok) {
      if (!this.#context().settlesAtOnce.open) this.#send({ type: 'conn.opened' });
      if ((this.#flags & CLOSE_BEGUN) === 0) {
        this.#transition('open.ready');
        this.host.services.hibernation.add(this);
      }
    } else this.#hookFailed('onOpen', outcome.error);
    inbound.openSettled();
  }

  deliver(message: Message): boolean | PromiseLike<unknown> {
    return callOnData(this.host.app, this, message, this.host.stats.onDataTimed);
  }

  deliveryFailed(error: unknown): void {
    this.#hookFailed('onData', error);
  }

  drained(): void {
    if (!this.#context().drained) this.#send({ type: 'conn.drained' });
  }

  /**
   * `stop()` reached its deadline: undelivered messages are dropped (counted), the socket is
   * destroyed. A hook still running settles on its own; `onClose` follows it as usual.
   * Returns the hook that kept the connection, for the log.
   */
  cut(): string {
    const waitingFor = this.#handshake !== null && this.state !== 'open' ? 'onHandshake' : this.#pendingHook();
    this.#dropQueue();
    this.terminateIo();
    this.socket.destroy();
    return waitingFor;
  }

  #pendingHook(): string {
    const snapshot = this.#wake(true).getSnapshot();
    if (snapshot.matches({ open: 'opening' })) return 'onOpen';
    if (snapshot.matches({ closing: 'notifying' })) return 'onClose';
    return this.inbound !== null && !this.inbound.idle ? 'onData' : 'the close handshake';
  }

  #hookFailed(hook: string, error: unknown): void {
    this.host.options.logger.error(new HookError(hook, this.id, error).message, error);
    // After a failure no more onData runs, whoever began the close (C4).
    this.#dropQueue();
    this.beginClose({ kind: 'hook-failed', hook });
  }

  #dropQueue(): void {
    const dropped = this.haltInbound();
    this.messages_dropped += dropped;
    this.host.stats.messagesDropped += dropped;
  }

  #applyClose(command: Extract<ConnectionCommand, { type: 'cmd.close' }>): void {
    this.#flags |= CLOSE_BEGUN;
    this.host.services.hibernation.remove(this);
    this.state = 'closing';
    this.close_code = command.code;
    this.close_reason = command.reason;
    if (command.dropPending) this.#dropQueue();
    this.closeIo(command.code, command.reason, serverInitiated(command.cause));
  }

  protected socketClosed(code: number, reason: Buffer): void {
    this.closed_at = this.host.options.clock.now();
    this.host.socketGone(this);
    if ((this.#flags & CLOSE_BEGUN) === 0) {
      this.beginClose(code === 1006 ? { kind: 'dropped' } : { kind: 'peer', code, reason: reason.toString('utf8') }, true);
    }
    if (!this.#context().socketGone) this.#send({ type: 'conn.socket.gone' });
  }

  async #notifyClose(code: number, reason: string): Promise<void> {
    const app = this.host.app;
    if (app.onClose !== undefined) {
      const started = performance.now();
      const outcome = await callHook(() => app.onClose?.(this.id, code, reason));
      if ((this.#flags & RELEASED) !== 0) return;
      this.#lastHook = { name: 'onClose', durationMs: performance.now() - started, ok: outcome.ok };
      if (!outcome.ok) this.host.options.logger.error(new HookError('onClose', this.id, outcome.error).message, outcome.error);
    }
    if (!this.#context().settlesAtOnce.close) this.#send({ type: 'conn.closed' });
  }

  #release(): void {
    if ((this.#flags & RELEASED) !== 0) return;
    this.#flags |= RELEASED;
    this.host.services.hibernation.remove(this);
    this.state = 'closed';
    this.#stopHandshakeWatch();
    this.#handshake = null;
    this.host.released(this);
  }

  /** The handshake timer and the raw socket's close listener, both only for the handshake. */
  #stopHandshakeWatch(): void {
    const handshake = this.#handshake;
    if (handshake === null) return;
    if (handshake.timer !== null) this.host.options.clock.clearTimeout(handshake.timer);
    handshake.timer = null;
    this.socket.off('close', handshake.onSocketClose);
  }

  /** A bug in the machine or runtime: log it, drop the socket, keep the process alive. */
  #fatal(error: unknown): void {
    this.host.options.logger.error(`connection ${this.id} actor failed`, error);
    this.terminateIo();
    this.socket.destroy();
    this.#release();
  }
}

function defaultBody(status: number): string {
  return status === 503 ? 'Service Unavailable' : status === 500 ? 'Internal Server Error' : '';
}
