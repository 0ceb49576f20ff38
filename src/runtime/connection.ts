/**
 * One client connection: owns the connection actor and runs the app's hooks. The actor
 * decides the lifecycle and emits commands; this class carries them out, with the socket side
 * in ClientSocket. Data messages bypass the actor (one event costs ~5 µs; see docs).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { createActor, type Actor } from 'xstate';
import type { WebSocket } from 'ws';
import type { CloseCause } from '../close-codes.js';
import { newClientInfo, type ClientInfo, type MutableClientInfo } from '../endpoint/client-info.js';
import type { OutboundMessage } from '../endpoint/endpoint.js';
import type { SendResult } from '../endpoint/types.js';
import { ClientClosingError, HookError, type WsActorError } from '../errors.js';
import {
  connectionMachine,
  serverInitiated,
  initialContext,
  type ConnectionCommand,
  type ConnectionEvent,
  type ConnectionMachine,
  type ConnectionOutcome,
} from '../machines/connection.js';
import type { ResolvedOptions } from '../options.js';
import type { Websocket } from '../types.js';
import { createHandshakeRequest, HandshakeDecision, writeHttpRejection } from './handshake.js';
import { ClientSocket } from './client-socket.js';
import { callHook } from './hooks.js';
import type { Message } from './message.js';
import type { HookTiming, LifecycleState, LifecycleStream } from './lifecycle-events.js';
import type { ServerStats } from './stats.js';

const OK: SendResult = Object.freeze({ ok: true as const });

/** What a connection needs from its server. */
export interface ConnectionHost {
  readonly app: Websocket<unknown>;
  readonly options: ResolvedOptions;
  /** False once the server is stopping: late handshakes get 503. */
  isAccepting(): boolean;
  /** Writes the 101 through `ws`, then calls `onUpgraded` (never, if the socket died). */
  upgrade(conn: Connection, decision: HandshakeDecision, onUpgraded: (ws: WebSocket) => void): void;
  /** The connection is open: visible to the Endpoint from now on. */
  opened(conn: Connection): void;
  /** Server-wide counters. */
  readonly stats: ServerStats;
  /** Where transitions are reported. */
  readonly lifecycle: LifecycleStream;
  /** The connection reached its final state. */
  released(conn: Connection): void;
}

export interface UpgradeRequest {
  req: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  subprotocols: string[];
}

export class Connection {
  readonly id: number;
  /** The live actor, or null while hibernated (idle in `open.ready`). */
  #actor: Actor<ConnectionMachine> | null = null;
  readonly #host: ConnectionHost;
  readonly #info: MutableClientInfo;
  /** The upgrade request; dropped once upgraded so an idle connection does not keep it. */
  #upgrade: UpgradeRequest | null;
  readonly #socket: Duplex;
  #io: ClientSocket | null = null;
  #decision: HandshakeDecision | null = null;
  #handshakeData: unknown;
  #closeBegun = false;
  #handshakeTimer: unknown = null;
  #lifecycleState: LifecycleState | null = null;
  #lastHook: HookTiming | null = null;
  #rejectStatus: number | null = null;
  #released = false;

  constructor(id: number, host: ConnectionHost, upgrade: UpgradeRequest) {
    this.id = id;
    this.#host = host;
    this.#upgrade = upgrade;
    this.#socket = upgrade.socket;
    this.#info = newClientInfo(id, upgrade.req.socket.remoteAddress ?? null, host.options.clock.now());
    upgrade.socket.on('close', this.#onHandshakeSocketClose);
  }

  /** Starts the actor, which asks for `onHandshake`. */
  start(): void {
    const { clock, handshakeTimeoutMs } = this.#host.options;
    this.#handshakeTimer = clock.setTimeout(() => {
      this.#handshakeTimer = null;
      this.#send({ type: 'conn.handshake.rejected', status: 503 });
    }, handshakeTimeoutMs);
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
    const input = { clientId: this.id };
    const { inspect } = this.#host.options;
    const actor = createActor(connectionMachine, {
      input,
      ...(restore ? { snapshot: connectionMachine.resolveState({ value: { open: 'ready' }, context: initialContext(this.id) }) } : {}),
      ...(inspect === null ? {} : { inspect }),
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
    const stream = this.#host.lifecycle;
    if (!stream.active) return;
    stream.emit({
      kind: 'connection',
      clientId: this.id,
      from,
      to,
      at: this.#host.options.clock.now(),
      hook,
      closeCode,
      closeReason,
      outcome,
      status: outcome === 'rejected' ? this.#rejectStatus : null,
    });
  }

  /** Drops the actor while nothing can happen to the lifecycle but a close. */
  #hibernate(): void {
    const actor = this.#actor;
    if (actor === null || !actor.getSnapshot().matches({ open: 'ready' })) return;
    this.#actor = null;
    actor.stop();
  }

  /** The upgrade request this connection came from. */
  get upgradeRequest(): UpgradeRequest {
    if (this.#upgrade === null) throw new Error(`connection ${this.id} was already upgraded`);
    return this.#upgrade;
  }

  get state(): ClientInfo['state'] {
    return this.#info.state;
  }

  /** True once the close began, here or by the peer's close frame (which `ws` already answered). */
  get closing(): boolean {
    return this.#closeBegun || this.#peerClosing();
  }

  #peerClosing(): boolean {
    return this.#io?.peerClosing ?? false;
  }

  info(): ClientInfo {
    this.#io?.countBytes(this.#info);
    return { ...this.#info };
  }

  /** Sends one message; resolves when `ws` handed it to the OS. Never rejects. */
  send(payload: Buffer, binary: boolean): Promise<SendResult> {
    return new Promise((resolve) => this.write({ payload, binary, frame: null }, (error) => resolve(error === null ? OK : { ok: false, error })));
  }

  /** Callback form of `send`, used by broadcasts (see ClientSocket.write). */
  write(message: OutboundMessage, done: (error: WsActorError | null) => void): void {
    if (this.#io === null) done(new ClientClosingError(this.id));
    else this.#io.write(message, done);
  }

  /** `Endpoint.close`: begins a close with the app's code; undelivered messages are dropped. */
  closeByApp(code: number, reason: string): void {
    this.beginClose({ kind: 'app', code, reason });
  }

  /** Begins a close on behalf of the app, server or a failure. Ignored once closing. */
  beginClose(cause: CloseCause): void {
    // The peer's close frame already arrived: its code wins, and `ws` reports it on 'close'.
    // (A protocol error also leaves ws closing, but then it is ws's own close we report.)
    const deferToPeer = cause.kind !== 'peer' && cause.kind !== 'dropped' && cause.kind !== 'protocol';
    if (!this.#closeBegun && deferToPeer && this.#peerClosing()) return;
    this.#send({ type: 'conn.close.begin', cause });
  }

  #run(command: ConnectionCommand): void {
    try {
      switch (command.type) {
        case 'cmd.handshake':
          this.#transition('handshaking');
          void this.#handshake();
          break;
        case 'cmd.upgrade':
          this.#transition('handshaking.upgrading');
          this.#doUpgrade();
          break;
        case 'cmd.reject':
          this.#rejectStatus = command.status;
          this.#reject(command.status);
          break;
        case 'cmd.open':
          this.#transition('open.opening');
          this.#info.state = 'open';
          this.#host.opened(this);
          void this.#open();
          break;
        case 'cmd.close':
          this.#transition('closing.draining', command.code, command.reason);
          this.#applyClose(command);
          break;
        case 'cmd.notifyClose':
          this.#transition('closing.notifying', command.code, command.reason);
          void this.#notifyClose(command.code, command.reason);
          break;
        case 'cmd.release':
          this.#transition('closed', this.#info.close_code, this.#info.close_reason, command.outcome);
          this.#release();
          break;
      }
    } catch (error) {
      this.#fatal(error);
    }
  }

  async #handshake(): Promise<void> {
    const { req, subprotocols } = this.upgradeRequest;
    const decision = new HandshakeDecision(subprotocols);
    const app = this.#host.app;
    const started = performance.now();
    const outcome =
      app.onHandshake === undefined
        ? { ok: true as const, value: undefined }
        : await callHook(() => app.onHandshake?.(createHandshakeRequest(req, subprotocols), decision));
    this.#lastHook = { name: 'onHandshake', durationMs: performance.now() - started, ok: outcome.ok };
    decision.settled = true;
    this.#decision = decision;
    if (!outcome.ok) {
      this.#host.options.logger.error(new HookError('onHandshake', null, outcome.error).message, outcome.error);
      this.#send({ type: 'conn.handshake.rejected', status: 500 });
    } else if (decision.rejection !== undefined) {
      this.#send({ type: 'conn.handshake.rejected', status: decision.rejection.status });
    } else if (!this.#host.isAccepting()) {
      this.#send({ type: 'conn.handshake.rejected', status: 503 });
    } else {
      this.#handshakeData = outcome.value;
      this.#send({ type: 'conn.handshake.accepted' });
    }
  }

  #doUpgrade(): void {
    this.#host.upgrade(this, this.#decision as HandshakeDecision, (ws) => this.#attach(ws));
  }

  #reject(status: number): void {
    const decision = this.#decision;
    const body = decision?.rejection?.status === status ? decision.rejection.body : defaultBody(status);
    writeHttpRejection(this.#socket, status, body, decision?.headers ?? []);
  }

  readonly #onHandshakeSocketClose = (): void => {
    this.#send({ type: 'conn.socket.gone' });
  };

  #attach(ws: WebSocket): void {
    const socket = this.#socket;
    this.#upgrade = null;
    socket.off('close', this.#onHandshakeSocketClose);
    this.#clearHandshakeTimer();
    const host = this.#host;
    this.#io = new ClientSocket(ws, socket, {
      id: this.id,
      options: host.options,
      stats: host.stats,
      info: this.#info,
      beginClose: (cause) => this.beginClose(cause),
      deliver: (message) => this.#deliver(message),
      drained: () => this.#send({ type: 'conn.drained' }),
      socketClosed: (code, reason) => this.#onSocketClose(code, reason),
    });
    this.#send({ type: 'conn.upgraded' });
  }

  async #open(): Promise<void> {
    const inbound = (this.#io as ClientSocket).inbound;
    inbound.openStarted();
    const app = this.#host.app;
    const started = performance.now();
    const outcome = app.onOpen === undefined ? { ok: true as const } : await callHook(() => app.onOpen?.(this.id, this.#handshakeData));
    this.#lastHook = { name: 'onOpen', durationMs: performance.now() - started, ok: outcome.ok };
    if (outcome.ok) {
      this.#send({ type: 'conn.opened' });
      if (!this.#closeBegun) this.#transition('open.ready');
      // Without an async onOpen this runs inside the actor's own step, where `conn.opened` is
      // still queued: hibernate once that step is over.
      queueMicrotask(() => this.#hibernate());
    }
    else this.#hookFailed('onOpen', outcome.error);
    inbound.openSettled();
  }

  async #deliver(message: Message): Promise<boolean> {
    const app = this.#host.app;
    const timed = this.#host.stats.onDataTimed;
    const started = timed === null ? 0 : performance.now();
    const outcome = app.onData === undefined ? { ok: true as const } : await callHook(() => app.onData?.(this.id, message));
    timed?.(performance.now() - started, outcome.ok);
    if (!outcome.ok) this.#hookFailed('onData', outcome.error);
    return outcome.ok;
  }

  #hookFailed(hook: string, error: unknown): void {
    this.#host.options.logger.error(new HookError(hook, this.id, error).message, error);
    // After a failure no more onData runs, whoever began the close (C4).
    this.#dropQueue();
    this.beginClose({ kind: 'hook-failed', hook });
  }

  #dropQueue(): void {
    const dropped = this.#io?.inbound.halt() ?? 0;
    this.#info.messages_dropped += dropped;
    this.#host.stats.messagesDropped += dropped;
  }

  #applyClose(command: Extract<ConnectionCommand, { type: 'cmd.close' }>): void {
    this.#closeBegun = true;
    this.#info.state = 'closing';
    this.#info.close_code = command.code;
    this.#info.close_reason = command.reason;
    if (command.dropPending) this.#dropQueue();
    this.#io?.closeBegan(command.code, command.reason, serverInitiated(command.cause));
  }

  #onSocketClose(code: number, reason: Buffer): void {
    this.#info.closed_at = this.#host.options.clock.now();
    if (!this.#closeBegun) {
      this.beginClose(code === 1006 ? { kind: 'dropped' } : { kind: 'peer', code, reason: reason.toString('utf8') });
    }
    this.#send({ type: 'conn.socket.gone' });
  }

  async #notifyClose(code: number, reason: string): Promise<void> {
    const app = this.#host.app;
    if (app.onClose !== undefined) {
      const started = performance.now();
      const outcome = await callHook(() => app.onClose?.(this.id, code, reason));
      this.#lastHook = { name: 'onClose', durationMs: performance.now() - started, ok: outcome.ok };
      if (!outcome.ok) this.#host.options.logger.error(new HookError('onClose', this.id, outcome.error).message, outcome.error);
    }
    this.#send({ type: 'conn.closed' });
  }

  #release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#info.state = 'closed';
    this.#clearHandshakeTimer();
    this.#socket.off('close', this.#onHandshakeSocketClose);
    this.#host.released(this);
  }

  #clearHandshakeTimer(): void {
    if (this.#handshakeTimer !== null) {
      this.#host.options.clock.clearTimeout(this.#handshakeTimer);
      this.#handshakeTimer = null;
    }
  }

  /** A bug in the machine or runtime: log it, drop the socket, keep the process alive. */
  #fatal(error: unknown): void {
    this.#host.options.logger.error(`connection ${this.id} actor failed`, error);
    this.#io?.terminate();
    this.#socket.destroy();
    this.#release();
  }
}

function defaultBody(status: number): string {
  return status === 503 ? 'Service Unavailable' : status === 500 ? 'Internal Server Error' : '';
}
