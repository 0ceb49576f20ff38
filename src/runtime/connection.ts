/**
 * One client connection: owns the connection actor and runs the app's hooks. The actor
 * decides the lifecycle and emits commands; this class carries them out, with the socket side
 * in ClientSocket (its base class: one object per connection). Data messages bypass the actor
 * (one event costs ~5 µs; see docs).
 */
import type { Actor, AnyActorRef, AnyMachineSnapshot } from 'xstate';
import type { WebSocket } from 'ws';
import type { CloseCause } from '../close-codes.js';
import type { ClientInfo } from '../endpoint/client-info.js';
import { HookError } from '../errors.js';
import {
  connectionMachine,
  serverInitiated,
  initialContext,
  type ConnectionCommand,
  type ConnectionEvent,
  type ConnectionMachine,
} from '../machines/connection.js';
import { PendingHandshake, type UpgradeRequest } from './pending-handshake.js';
import { createChildActor, stopActor } from './actor-root.js';
import { ClientSocket } from './client-socket.js';
import type { InboundQueue } from './inbound-queue.js';
import { callHook, type HookOutcome } from './hooks.js';
import { callOnData } from './on-data.js';
import type { Message } from './message.js';
import { STATE_OF_COMMAND, connectionTransition, type HookTiming, type LifecycleState, type TransitionSubject } from './lifecycle-events.js';
import type { ConnectionHost } from './connection-host.js';

/** Events the machine said it waits for (from the `awaits*` fields of its commands). */
const AWAITS_ANSWER = 1;
const AWAITS_OPENED = 2;
const AWAITS_DRAINED = 4;
const AWAITS_SOCKET_GONE = 8;
const AWAITS_CLOSED = 16;

const OPENED: HookOutcome<unknown> = Object.freeze({ ok: true, value: undefined });

export class Connection extends ClientSocket {
  /** The live actor, or null while hibernated (idle in `open.ready`). */
  #actor: Actor<ConnectionMachine> | null = null;
  protected declare readonly host: ConnectionHost;
  /** Null once `onOpen` runs (or the connection was released). */
  #handshake: PendingHandshake | null;
  /** AWAITS_* bits: set by a command, cleared when the event is sent. */
  #awaiting = 0;
  #lastHook: HookTiming | null = null;
  /** `onOpen` is running (it still is after a close began, which the state no longer shows). */
  #inOnOpen = false;
  /** Used by the hibernation queue. */
  hibernateAt = 0;

  constructor(id: number, host: ConnectionHost, upgrade: UpgradeRequest) {
    super(id, host, upgrade.socket);
    this.#handshake = new PendingHandshake(upgrade, host.options.clock, () => {
      this.host.socketGone(this);
      this.#send({ type: 'conn.socket.gone' });
    });
  }

  /** Starts the actor, which asks for `onHandshake`. */
  start(): void {
    // Without onHandshake the upgrade is done (or failed) before start() returns.
    if (this.host.app.onHandshake !== undefined) {
      this.#handshake?.startTimer(this.host.options.handshakeTimeoutMs, () => this.#send({ type: 'conn.handshake.rejected', status: 503 }));
    }
    this.#wake(false);
  }

  /**
   * Creates (or re-creates) the actor. An idle open connection keeps no actor, only the fact
   * that it is in `open.ready`, whose context is always the initial one (the way idle Erlang
   * processes hibernate); this takes the per-connection memory close to raw `ws`.
   */
  #wake(restore: boolean): Actor<ConnectionMachine> {
    if (this.#actor !== null) return this.#actor;
    const { atOnce, actorRoot } = this.host.services;
    const snapshot = restore ? connectionMachine.resolveState({ value: { open: 'ready' }, context: initialContext(this.id, atOnce) }) : undefined;
    const actor = createChildActor(connectionMachine, actorRoot, { clientId: this.id, settlesAtOnce: atOnce }, snapshot);
    actor.on('*', (command) => this.#run(command));
    actor.subscribe({ error: (error) => this.#fatal(error) });
    this.#actor = actor;
    actor.start();
    return actor;
  }

  #send(event: ConnectionEvent): void {
    this.#wake(true).send(event);
  }

  /** Sends `event` if the machine waits for it (`bit` of #awaiting), once. */
  #report(bit: number, event: ConnectionEvent): void {
    if ((this.#awaiting & bit) === 0) return;
    this.#awaiting &= ~bit;
    this.#send(event);
  }

  /**
   * Records the state a command reported (null: aborted by a failure of the actor) and puts it
   * on the lifecycle stream, with the hook that just settled. The record is made only for listeners.
   */
  #transition(to: LifecycleState, command: ConnectionCommand | null): void {
    const from = this.lifecycle;
    this.lifecycle = to;
    const hook = this.#lastHook;
    this.#lastHook = null;
    const stream = this.host.lifecycle;
    if (stream.active) stream.emit(connectionTransition(this, from, to, this.host.options.clock.now(), hook, command));
  }

  /** The rejected handshake's status and body, for the lifecycle stream. */
  get rejected(): TransitionSubject['rejected'] {
    return this.#handshake;
  }

  /**
   * Called `HIBERNATE_AFTER_MS` after `onOpen` settled: drops the actor while nothing can
   * happen to the lifecycle but a close, and the inbound queue if it is idle (else tries again).
   */
  hibernate(): void {
    if (this.lifecycle !== 'open.ready') return;
    // The client machine (the connection actor's child) goes first; busy, both stay awake.
    if (!this.hibernateMachine()) {
      this.host.services.hibernation.add(this);
      return;
    }
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
    return this.closeBegan || this.peerClosing;
  }

  info(): ClientInfo {
    return this.snapshot();
  }

  /** `Endpoint.close`: begins a close with the app's code; undelivered messages are dropped. */
  closeByApp(code: number, reason: string): void {
    this.beginClose({ kind: 'app', code, reason });
  }

  /** Begins a close on behalf of the app, server, a limit or the peer; the machine decides whether it counts. */
  beginClose(cause: CloseCause, socketGone = false): void {
    if (this.closeBegan) return; // the machine would ignore it: save the event
    // What is already true goes with the event instead of an event of its own.
    const drained = this.inbound === null || this.inbound.idle;
    this.#send({ type: 'conn.close.begin', cause, socketGone, drained, peerClosing: this.peerClosing });
  }

  #run(command: ConnectionCommand): void {
    try {
      if (command.type === 'cmd.release' && this.lifecycle === 'closed') return; // released already by #fatal
      const to = STATE_OF_COMMAND[command.type];
      if (to !== undefined) this.#transition(to, command);
      switch (command.type) {
        case 'cmd.handshake':
          // Not awaited: no onHandshake (the machine accepted at once), nothing to decide.
          if (!command.awaitsAnswer) break;
          this.#awaiting |= AWAITS_ANSWER;
          this.#guard(this.#handshakeHook());
          break;
        case 'cmd.upgrade':
          this.host.upgrade(this, this.#handshake?.decision ?? null, (ws) => this.#attach(ws));
          break;
        case 'cmd.reject':
          this.#handshake?.reject(this.socket, command.status);
          break;
        case 'cmd.open':
          if (command.awaitsOpened) this.#awaiting |= AWAITS_OPENED;
          this.host.opened(this);
          this.#open();
          break;
        case 'cmd.ready':
          this.host.services.hibernation.add(this);
          break;
        case 'cmd.close':
          this.#awaiting |= (command.awaitsDrained ? AWAITS_DRAINED : 0) | (command.awaitsSocketGone ? AWAITS_SOCKET_GONE : 0);
          this.#applyClose(command);
          break;
        case 'cmd.halt':
          this.#dropQueue();
          break;
        case 'cmd.notifyClose':
          if (command.awaitsClosed) this.#awaiting |= AWAITS_CLOSED;
          this.#notifyClose(command.code, command.reason);
          break;
        case 'cmd.release':
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
    const started = performance.now();
    const { outcome, decision } = await (this.#handshake as PendingHandshake).decide(this.host.app);
    // Settled after the handshake timed out, the socket went or the server stopped: the
    // connection was answered and released already; waking its actor now would be a bug.
    const handshake = this.#handshake;
    if (handshake === null || this.lifecycle === 'closed') return;
    this.#lastHook = { name: 'onHandshake', durationMs: performance.now() - started, ok: outcome.ok };
    handshake.decision = decision;
    // No onHandshake: the machine accepted already (server.ts refused upgrades while stopping).
    if ((this.#awaiting & AWAITS_ANSWER) === 0) return;
    // The hook's own answer stands (500 if it threw); an accepted one gets 503 while stopping (S2).
    if (!outcome.ok) {
      this.host.options.logger.error(new HookError('onHandshake', null, outcome.error).message, outcome.error);
      this.#report(AWAITS_ANSWER, { type: 'conn.handshake.rejected', status: 500 });
    } else if (decision.rejection !== undefined) {
      this.#report(AWAITS_ANSWER, { type: 'conn.handshake.rejected', status: decision.rejection.status });
    } else if (!this.host.isAccepting()) {
      this.#report(AWAITS_ANSWER, { type: 'conn.handshake.rejected', status: 503 });
    } else {
      handshake.data = outcome.value;
      this.#report(AWAITS_ANSWER, { type: 'conn.handshake.accepted' });
    }
  }

  #attach(ws: WebSocket): void {
    this.#handshake?.upgraded();
    this.attachSocket(ws);
    this.#send({ type: 'conn.upgraded' });
  }

  /** Runs `onOpen`; without one, all of it happens before this returns (no promise). */
  #open(): void {
    const inbound = this.inbound as InboundQueue;
    inbound.openStarted();
    const app = this.host.app;
    const data = this.#handshake?.data;
    this.#handshake = null;
    if (app.onOpen === undefined) {
      this.#opened(OPENED, data, inbound, -1);
      return;
    }
    const started = performance.now();
    this.#inOnOpen = true;
    this.#guard(
      callHook(() => app.onOpen?.(this.id, data)).then((outcome) => {
        this.#inOnOpen = false;
        this.#opened(outcome, data, inbound, started);
      }),
    );
  }

  /** `started`: when `onOpen` began (-1: the app has none). */
  #opened(outcome: HookOutcome<unknown>, data: unknown, inbound: InboundQueue, started: number): void {
    if (this.lifecycle === 'closed') return;
    if (started >= 0) this.#lastHook = { name: 'onOpen', durationMs: performance.now() - started, ok: outcome.ok };
    if (outcome.ok) {
      this.#report(AWAITS_OPENED, { type: 'conn.opened' });
      this.startMachine(data);
    } else this.#hookFailed('onOpen', outcome.error);
    inbound.openSettled();
  }

  deliver(message: Message): boolean | PromiseLike<unknown> {
    return callOnData(this.host.app, this, message, this.host.stats.onDataTimed);
  }

  // The client machine's steps: none here (see MachineConnection, for apps with a clientMachine).
  /** `onOpen` settled: start the client machine. */
  protected startMachine(_handshake: unknown): void {}

  /** False while the client machine cannot hibernate (busy). */
  protected hibernateMachine(): boolean {
    return true;
  }

  /** The close began and all was delivered: the machine's close event and stop; its final snapshot. */
  protected finishMachine(_code: number, _reason: string): AnyMachineSnapshot | undefined {
    return undefined;
  }

  /** The connection actor, woken if hibernated (the client machine's parent). */
  protected wakeActor(): AnyActorRef {
    return this.#wake(true);
  }

  /** A hook (or the client machine) failed: logged; the machine closes with 1011 or halts delivery. */
  protected hookFailed(hook: string, error: unknown): void {
    this.#hookFailed(hook, error);
  }

  deliveryFailed(error: unknown): void {
    this.#hookFailed('onData', error);
  }

  drained(): void {
    this.#report(AWAITS_DRAINED, { type: 'conn.drained' });
  }

  /**
   * `stop()` reached its deadline: undelivered messages are dropped (counted), the socket is
   * destroyed. A hook still running settles on its own; `onClose` follows it as usual.
   * Returns the hook that kept the connection, for the log.
   */
  cut(): string {
    const waitingFor = this.state === 'handshaking' ? 'onHandshake' : this.#pendingHook();
    // A handshake still deciding is answered as a stop answers it: 503 (S2).
    this.#report(AWAITS_ANSWER, { type: 'conn.handshake.rejected', status: 503 });
    if (this.lifecycle === 'closed') return waitingFor;
    this.#dropQueue();
    this.terminateIo();
    this.socket.destroy();
    return waitingFor;
  }

  #pendingHook(): string {
    if (this.#inOnOpen) return 'onOpen';
    if (this.lifecycle === 'closing.notifying') return 'onClose';
    return this.inbound !== null && !this.inbound.idle ? 'onData' : 'the close handshake';
  }

  /** The machine closes with 1011, or only halts delivery if the close began (C4, C5). */
  #hookFailed(hook: string, error: unknown): void {
    this.host.options.logger.error(new HookError(hook, this.id, error).message, error);
    this.#awaiting &= ~AWAITS_OPENED;
    this.#send({ type: 'conn.hook.failed', hook, peerClosing: this.peerClosing });
  }

  #dropQueue(): void {
    const dropped = this.haltInbound();
    this.messages_dropped += dropped;
    this.host.stats.messagesDropped += dropped;
  }

  #applyClose(command: Extract<ConnectionCommand, { type: 'cmd.close' }>): void {
    this.host.services.hibernation.remove(this);
    this.close_code = command.code;
    this.close_reason = command.reason;
    if (command.dropPending) this.#dropQueue();
    this.closeIo(command.code, command.reason, serverInitiated(command.cause));
  }

  protected socketClosed(code: number, reason: Buffer): void {
    this.closed_at = this.host.options.clock.now();
    this.host.socketGone(this);
    this.beginClose(code === 1006 ? { kind: 'dropped' } : { kind: 'peer', code, reason: reason.toString('utf8') }, true);
    this.#report(AWAITS_SOCKET_GONE, { type: 'conn.socket.gone' });
  }

  /** Runs `onClose`; without one, all of it happens before this returns (no promise). */
  #notifyClose(code: number, reason: string): void {
    const app = this.host.app;
    // M4: the close event, then the machine stops, once, before onClose (which gets its final snapshot).
    const final = this.finishMachine(code, reason);
    if (app.onClose === undefined) {
      this.#report(AWAITS_CLOSED, { type: 'conn.closed' });
      return;
    }
    const started = performance.now();
    this.#guard(
      callHook(() => app.onClose?.(this.id, code, reason, final)).then((outcome) => {
        if (this.lifecycle === 'closed') return;
        this.#lastHook = { name: 'onClose', durationMs: performance.now() - started, ok: outcome.ok };
        if (!outcome.ok) this.host.options.logger.error(new HookError('onClose', this.id, outcome.error).message, outcome.error);
        this.#report(AWAITS_CLOSED, { type: 'conn.closed' });
      }),
    );
  }

  #release(): void {
    this.host.services.hibernation.remove(this);
    this.#handshake?.stopWatch(this.socket);
    this.#handshake = null;
    this.host.released(this);
  }

  /** A bug in the machine or runtime: log it, drop the socket, keep the process alive. */
  #fatal(error: unknown): void {
    this.host.options.logger.error(`connection ${this.id} actor failed`, error);
    this.terminateIo();
    this.socket.destroy();
    if (this.lifecycle === 'closed') return;
    this.#transition('closed', null);
    this.#release();
  }
}
