/**
 * Per-client app state as an XState machine: an app that sets `clientMachine` gets one actor
 * of it per opened client, fed by that client's messages in order (see the README's
 * "Per-client machines" and docs/lifecycle.md, M1–M6). This module is the public side: the
 * config factory, the types a machine is written against, and how its actions reach their
 * client. The runtime side is src/runtime/client-machine-runner.ts.
 */
import type { AnyActorRef, AnyStateMachine, EventFromLogic } from 'xstate';
import type { Endpoint, SendResult } from './endpoint/types.js';
import { Message } from './runtime/message.js';
import { func, nullable, oneOf, optionScope, readOptions, string } from './validate.js';

/** The event a client machine gets once, when its client's close began (after the messages C4 delivers). */
export interface ClientCloseEvent {
  readonly type: 'wsactor.close';
  readonly code: number;
  readonly reason: string;
}

/** What the default decoder makes of a binary message. */
export interface ClientBinaryEvent {
  readonly type: 'wsactor.binary';
  readonly data: Buffer;
}

/** What a client machine gets as input when its actor starts (after `onOpen` settled). */
export interface ClientMachineInput<H = unknown> {
  readonly clientId: number;
  /** What `onHandshake` returned (the `handshakeData` of `onOpen`). */
  readonly handshake: H;
}

/**
 * What to do with a message the current state does not accept (`snapshot.can(event)` is
 * false) or that does not decode: `'ignore'` it (counted), reply `'error'` (a JSON text
 * message `{"type":"error","error":"unexpected"|"undecodable","event":...,"state":...}`,
 * counted), or `'close'` the client with 1008 and a reason naming the event and the state.
 */
export type UnexpectedPolicy = 'ignore' | 'error' | 'close';

/** Options of {@link clientMachine}. */
export interface ClientMachineOptions<TEvent> {
  /**
   * Turns a message into an event, or undefined when it does not decode. Default: text as a
   * JSON object with a string `type` (the object is the event); binary as
   * `{ type: 'wsactor.binary', data }`.
   */
  decode?: ((message: Message) => TEvent | undefined | Promise<TEvent | undefined>) | null;
  /** Default: `'error'`. */
  unexpected?: UnexpectedPolicy;
  /**
   * States with this tag are busy: the next message waits until the machine leaves them (an
   * invoked promise such as a database call runs there), reading pauses as for a slow `onData`
   * (C3). Default: `'busy'`.
   */
  busyTag?: string;
}

/** A client machine with its options, as `clientMachine` of a {@link Websocket} app. */
export interface ClientMachineConfig {
  readonly machine: AnyStateMachine;
  readonly decode: (message: Message) => unknown;
  readonly unexpected: UnexpectedPolicy;
  readonly busyTag: string;
}

/**
 * Declares the per-client machine of an app. The machine gets {@link ClientMachineInput} as
 * input; its events are what `decode` makes of messages plus {@link ClientCloseEvent}. Throws
 * `InvalidOptionError` for bad options.
 */
export function clientMachine<TMachine extends AnyStateMachine>(
  machine: TMachine,
  options: ClientMachineOptions<EventFromLogic<TMachine>> = {},
): ClientMachineConfig {
  if (typeof machine !== 'object' || machine === null || typeof (machine as { transition?: unknown }).transition !== 'function') {
    throw new TypeError('clientMachine() needs an XState machine (setup(...).createMachine(...))');
  }
  const resolved = readOptions(
    optionScope('clientMachine'),
    options,
    { decode: nullable(func<(message: Message) => unknown>()), unexpected: oneOf(['ignore', 'error', 'close'] as const), busyTag: string() },
    { decode: null, unexpected: 'error', busyTag: 'busy' },
  );
  return Object.freeze({ machine, decode: resolved.decode ?? decodeJson, unexpected: resolved.unexpected, busyTag: resolved.busyTag });
}

/** The default decoder (see {@link ClientMachineOptions.decode}); synchronous: no promise per message. */
export function decodeJson(message: Message): unknown {
  const bytes = Message.bytesOf(message);
  if (message.isBinary) return { type: 'wsactor.binary', data: bytes } satisfies ClientBinaryEvent;
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { type } = value as { type?: unknown };
  // Events named like ours are not the client's to send.
  return typeof type === 'string' && !type.startsWith('wsactor.') && !type.startsWith('xstate.') ? value : undefined;
}

/** How a client machine's actions reach their client (and the others), all through the Endpoint. */
export interface ClientHandle {
  /** The client this actor belongs to. */
  readonly id: number;
  /** The server's Endpoint (works across nodes with a cluster adapter). */
  readonly endpoint: Endpoint;
  /** Sends to this client: a string as is, anything else as JSON. */
  send(data: unknown): Promise<SendResult>;
  /** Begins closing this client (default 1000). */
  close(code?: number, reason?: string): Promise<SendResult>;
}

const handles = new WeakMap<AnyActorRef, ClientHandle>();

/**
 * The client of a client-machine actor, for its actions: `({ self, context }) =>
 * void clientOf(self).send({ type: 'welcome' })`. Throws for an actor wsactor did not start.
 */
export function clientOf(self: AnyActorRef): ClientHandle {
  const handle = handles.get(self);
  if (handle === undefined) throw new TypeError('clientOf(self): this actor is not a wsactor client machine');
  return handle;
}

/** Runtime only: registers the handle of a (re)started client actor. */
export function registerClientHandle(actor: AnyActorRef, handle: ClientHandle): void {
  handles.set(actor, handle);
}

/** Encodes what a machine sends: strings as they are, anything else as JSON. */
export function encodeForClient(data: unknown): string {
  return typeof data === 'string' ? data : JSON.stringify(data);
}
