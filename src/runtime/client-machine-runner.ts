/**
 * Runs one client's app machine (docs/lifecycle.md, M1–M6). The connection hands it each
 * message in place of `onData`, one at a time (the inbound queue keeps C3): it decodes the
 * message, applies the unexpected-message policy, sends the event, and, while the machine is
 * in a busy-tagged state, keeps the delivery pending so the next message waits and reading
 * pauses. A final state closes the client with its output's code; an error closes it with
 * 1011. When the close began and everything was delivered, `finish` sends the one close
 * event and stops the actor, before `onClose`.
 *
 * Idle, the actor hibernates like the connection actor: its persisted snapshot is kept and the
 * next message restores it (context and state exactly as they were).
 */
import type { Actor, AnyActorRef, AnyMachineSnapshot, AnyStateMachine, Snapshot, Subscription } from 'xstate';
import { clipCloseReason } from '../close-codes.js';
import { encodeForClient, registerClientHandle, type ClientMachineConfig, type ClientMachineInput } from '../client-machine.js';
import type { Endpoint } from '../endpoint/types.js';
import { createChildActor, stopActor } from './actor-root.js';
import type { LifecycleStream } from './lifecycle-events.js';
import type { Message } from './message.js';

/**
 * What a runner needs from its connection (the Connection itself implements it: no object or
 * closures per client).
 */
export interface RunnerHost {
  readonly id: number;
  machineEndpoint(): Endpoint;
  machineLifecycle(): LifecycleStream;
  machineNow(): number;
  /** The connection actor (woken if hibernated): the client actor's parent. */
  machineParent(): AnyActorRef;
  /** The machine failed: close with 1011 (logged). */
  machineFailed(error: unknown): void;
  /** The machine reached a final state: close with this code and reason. */
  machineFinished(code: number, reason: string): void;
  /** The unexpected-message policy says close: 1008 with this reason. */
  machineRefused(reason: string): void;
  /** The machine is idle again after a message: it may hibernate later. */
  machineIdle(): void;
}

export class ClientMachineRunner {
  #actor: Actor<AnyStateMachine> | null = null;
  #subscription: Subscription | null = null;
  /** While hibernated: the persisted snapshot the next message restores. */
  #persisted: Snapshot<unknown> | null = null;
  /** Resolves the pending delivery once the machine leaves its busy state. */
  #whenIdle: (() => void) | null = null;
  #state: string | null = null;
  /** The snapshot it ended in by itself (final state or error), for `onClose`. */
  #ended: AnyMachineSnapshot | null = null;
  #finished = false;
  /** Messages refused by the policy or not decoded. */
  rejected = 0;

  constructor(
    private readonly config: ClientMachineConfig,
    private readonly host: RunnerHost,
    private readonly input: ClientMachineInput,
  ) {}

  /** The machine's current state (dotted), or null before start / after stop. */
  get state(): string | null {
    return this.#state;
  }

  start(): void {
    this.#spawn(undefined);
  }

  /** Runs one message: true when it settled at once, else a promise of the busy state's end. */
  deliver(message: Message): boolean | PromiseLike<unknown> {
    const decoded = this.config.decode(message);
    if (isThenable(decoded)) return decoded.then((event): unknown => this.#deliverEvent(event));
    return this.#deliverEvent(decoded);
  }

  #deliverEvent(event: unknown): true | Promise<void> {
    if (this.#finished) return true;
    const actor = this.#wake();
    if (actor === null) return true;
    // Reserved types are ours to send (the close event, XState's own): from any decoder, a
    // message that claims one does not decode.
    if (!isEvent(event) || (isReserved(event.type) && event.type !== 'wsactor.binary')) {
      this.#refuse('undecodable', null);
      return true;
    }
    const snapshot = actor.getSnapshot() as AnyMachineSnapshot;
    if (!snapshot.can(event)) {
      this.#refuse('unexpected', event.type);
      return true;
    }
    actor.send(event);
    const after = actor.getSnapshot() as AnyMachineSnapshot;
    if (after.status === 'active' && after.hasTag(this.config.busyTag)) return new Promise((resolve) => (this.#whenIdle = resolve));
    this.host.machineIdle();
    return true;
  }

  /**
   * The close began and every message was delivered: sends the close event (if the machine
   * still runs), stops the actor, and returns its final snapshot. Once.
   */
  finish(code: number, reason: string): AnyMachineSnapshot | undefined {
    if (this.#finished) return undefined;
    this.#finished = true;
    const actor = this.#actor ?? (this.#persisted === null ? null : this.#wake());
    if (actor === null) return this.#ended ?? undefined;
    if (actor.getSnapshot().status === 'active') actor.send({ type: 'wsactor.close', code, reason });
    const final = actor.getSnapshot() as AnyMachineSnapshot;
    this.#stop();
    return final;
  }

  /** Drops the actor while idle, keeping its persisted snapshot. False when it cannot now. */
  hibernate(): boolean {
    const actor = this.#actor;
    if (actor === null) return true;
    const snapshot = actor.getSnapshot() as AnyMachineSnapshot;
    if (snapshot.status !== 'active' || this.#whenIdle !== null || snapshot.hasTag(this.config.busyTag)) return false;
    this.#persisted = compact(actor.getPersistedSnapshot());
    this.#stop();
    return true;
  }

  #wake(): Actor<AnyStateMachine> | null {
    if (this.#actor !== null) return this.#actor;
    if (this.#persisted === null) return null;
    const persisted = this.#persisted;
    this.#persisted = null;
    this.#spawn(persisted);
    return this.#actor;
  }

  #spawn(snapshot: Snapshot<unknown> | undefined): void {
    const { machine } = this.config;
    const actor = createChildActor(machine, this.host.machineParent(), this.input, snapshot as never);
    const endpoint = this.host.machineEndpoint();
    const { id } = this.host;
    registerClientHandle(actor, {
      id,
      endpoint,
      send: (data) => endpoint.send(encodeForClient(data), id),
      close: (code, reason) => endpoint.close(id, code, reason),
    });
    this.#actor = actor;
    this.#subscription = actor.subscribe({
      next: (next) => this.#observe(next as AnyMachineSnapshot),
      error: (error) => {
        this.#ended = actor.getSnapshot() as AnyMachineSnapshot;
        this.#release();
        this.host.machineFailed(error);
      },
    });
    actor.start();
    if (snapshot === undefined) this.#observe(actor.getSnapshot() as AnyMachineSnapshot);
  }

  #observe(snapshot: AnyMachineSnapshot): void {
    const to = stateName(snapshot.value);
    if (to !== this.#state) {
      const from = this.#state;
      this.#state = to;
      const lifecycle = this.host.machineLifecycle();
      if (lifecycle.active) lifecycle.emit({ kind: 'client-machine', clientId: this.host.id, from, to, at: this.host.machineNow() });
    }
    if (snapshot.status === 'done' && !this.#finished) {
      const { code, reason } = closeOfOutput(snapshot.output);
      this.#ended = snapshot;
      this.#release();
      this.host.machineFinished(code, reason);
      return;
    }
    if (this.#whenIdle !== null && (snapshot.status !== 'active' || !snapshot.hasTag(this.config.busyTag))) {
      const resolve = this.#whenIdle;
      this.#whenIdle = null;
      resolve();
      if (snapshot.status === 'active') this.host.machineIdle();
    }
  }

  #refuse(error: 'unexpected' | 'undecodable', eventType: string | null): void {
    this.rejected++;
    const { unexpected } = this.config;
    if (unexpected === 'ignore') return;
    const state = this.#state ?? '';
    if (unexpected === 'error') {
      void this.host.machineEndpoint().send(JSON.stringify({ type: 'error', error, event: eventType, state }), this.host.id);
      return;
    }
    const what = eventType === null ? 'Undecodable message' : `Unexpected "${eventType}"`;
    this.host.machineRefused(clipCloseReason(`${what} in state "${state}"`));
  }

  /** The actor is done or failed: forget it (a pending delivery settles). */
  #release(): void {
    this.#subscription?.unsubscribe();
    this.#subscription = null;
    this.#actor = null;
    const resolve = this.#whenIdle;
    this.#whenIdle = null;
    resolve?.();
  }

  #stop(): void {
    const actor = this.#actor;
    this.#release();
    if (actor !== null) stopActor(actor);
  }
}

/**
 * The persisted snapshot as one plain literal: XState's (a rest plus a spread) gets a hidden
 * class of its own per object after a dozen, ~0.26 KiB per hibernated client (measured).
 */
function compact(snapshot: Snapshot<unknown>): Snapshot<unknown> {
  const s = snapshot as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = { status: s.status, output: s.output, error: s.error, value: s.value, historyValue: s.historyValue, context: s.context, children: s.children };
  for (const key of Object.keys(s)) if (!(key in out)) out[key] = s[key]; // a field a later XState adds
  return out as unknown as Snapshot<unknown>;
}

function isEvent(value: unknown): value is { type: string } {
  return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string';
}

function isReserved(type: string): boolean {
  return type.startsWith('wsactor.') || type.startsWith('xstate.');
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/** `{ a: { b: 'c' } }` → `a.b.c`. */
export function stateName(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value !== 'object' || value === null) return String(value);
  return Object.entries(value as Record<string, unknown>)
    .map(([key, child]) => (child === undefined || (typeof child === 'object' && child !== null && Object.keys(child).length === 0) ? key : `${key}.${stateName(child)}`))
    .join(',');
}

/** A final state's output `{ code?, reason? }` as a close (default 1000, ''). */
function closeOfOutput(output: unknown): { code: number; reason: string } {
  const { code, reason } = (typeof output === 'object' && output !== null ? output : {}) as { code?: unknown; reason?: unknown };
  return { code: typeof code === 'number' ? code : 1000, reason: typeof reason === 'string' ? reason : '' };
}
