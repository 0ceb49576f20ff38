/**
 * The trace of one scenario run: every call of the app's hooks (start and settle), every
 * Endpoint call the app made (with the hook it came from and its result), what each client did
 * and saw, and the server's own events, numbered in one sequence. User invariants get it as an
 * {@link AppRun}.
 */
import type { ReceivedMessage, CloseInfo } from './client.js';
import type { MachineStep } from './machine.js';
import type { ClientMessage, ConnectPlan, Scenario } from './scenario.js';

/** The app hooks the kit wraps. */
export type HookName = 'onStart' | 'onHandshake' | 'onOpen' | 'onData' | 'onClose' | 'onStop';

/** One call of an app hook, from the moment the server invoked it (before any kit delay) to when it settled. */
export interface HookCall {
  /** Number of the call in the run (1, 2, ...). */
  readonly id: number;
  readonly hook: HookName;
  /** The connection (`"2"`, or `"2#2"` for client 2's second connection); null for onStart/onStop. */
  readonly connection: string | null;
  /** The server's client id (known from the handshake on); null for onStart/onStop. */
  readonly clientId: number | null;
  /** onData: position of the message among the ones this connection's hooks got (0-based); else null. */
  readonly index: number | null;
  /** Sequence number when the server invoked the hook. */
  readonly startSeq: number;
  /** Sequence number when it settled, or null if it never did. */
  readonly endSeq: number | null;
  /** The error it threw or rejected with (as text), or null. */
  readonly error: string | null;
  /** Milliseconds the kit waited before calling the real hook. */
  readonly delayMs: number;
  /** onData: the message's bytes and kind. */
  readonly message: { readonly data: Buffer; readonly isBinary: boolean } | null;
  /** onClose: the code and reason it got. */
  readonly close: CloseInfo | null;
  /** onHandshake: the request target. */
  readonly url: string | null;
}

/** The Endpoint methods whose calls the kit records. */
export type EndpointMethod = 'send' | 'sendBinary' | 'broadcast' | 'broadcastBinary' | 'multicast' | 'multicastBinary' | 'close';

/** One Endpoint call the app made through the Endpoint its `onStart` got. */
export interface EndpointCall {
  readonly id: number;
  readonly method: EndpointMethod;
  /** Target ids: `[id]` for send/close, the listed ids for multicast, null for a broadcast. */
  readonly clientIds: readonly number[] | null;
  /** The hook call whose work made this call (also from its awaits and timers), or null (outside any hook). */
  readonly from: HookCall | null;
  readonly calledSeq: number;
  /** Null until the result came. */
  readonly settledSeq: number | null;
  /** Ids the data was handed to (send/close: `[id]` when ok; broadcast/multicast: `sent`). */
  readonly sent: readonly number[];
  /** Failures with their error codes. */
  readonly failed: readonly { readonly clientId: number; readonly code: string }[];
  /** close: the code asked for (default 1000). */
  readonly code: number | null;
  /** A preview of the data sent, or of the close reason. */
  readonly preview: string;
  /** The call threw or its promise rejected (the Endpoint promises never to): the error as text; else null. */
  readonly threw: string | null;
}

/** One message a generated client sent. */
export interface SentMessage {
  readonly message: ClientMessage;
  /** The step that sent it (1-based). */
  readonly step: number;
  readonly seq: number;
}

/** One connection a generated client opened (or tried to). */
export interface ConnectionRecord {
  /** `"2"` for client 2's first connection, `"2#2"` for its second, ... */
  readonly label: string;
  readonly client: number;
  /** The step that opened it (1-based). */
  readonly step: number;
  readonly plan: ConnectPlan;
  /** The server's client id, once `onHandshake` ran for it. */
  readonly clientId: number | null;
  /** `open`: got its 101; `rejected`: an HTTP status; `refused`/`failed`: no HTTP answer; `timeout`: no answer in time. */
  readonly outcome: 'open' | 'rejected' | 'refused' | 'failed' | 'timeout';
  /** The rejection status (e.g. 403, 503), or null. */
  readonly status: number | null;
  readonly sent: readonly SentMessage[];
  readonly received: readonly ReceivedMessage[];
  /** How the client ended it (a close frame with its code, null for an empty one; or a drop), or null if it stayed. */
  readonly ended: { readonly how: 'close' | 'drop'; readonly code: number | null; readonly reason: string; readonly step: number; readonly seq: number } | null;
  /** What the client saw when the connection closed (1006 without a close frame), or null. */
  readonly closed: CloseInfo | null;
  /** True when a `server.stop()` step came before this connection's connect step. */
  readonly afterStop: boolean;
}

/** One entry of the run's trace, in order of `seq`. `atMs` is milliseconds since the run began. */
export type TraceEvent =
  | { readonly kind: 'step'; readonly seq: number; readonly atMs: number; readonly step: number; readonly text: string }
  | { readonly kind: 'hook-start' | 'hook-end'; readonly seq: number; readonly atMs: number; readonly call: HookCall }
  | { readonly kind: 'endpoint-call' | 'endpoint-result'; readonly seq: number; readonly atMs: number; readonly call: EndpointCall }
  | { readonly kind: 'client'; readonly seq: number; readonly atMs: number; readonly connection: string; readonly text: string }
  | { readonly kind: 'server'; readonly seq: number; readonly atMs: number; readonly text: string };

/** Everything a run recorded; what user invariants get (with the app instance). */
export interface AppRun<A> {
  /** The app instance the factory made for this run (its hooks were the real ones). */
  readonly app: A;
  readonly scenario: Scenario;
  readonly connections: readonly ConnectionRecord[];
  readonly hookCalls: readonly HookCall[];
  readonly endpointCalls: readonly EndpointCall[];
  readonly events: readonly TraceEvent[];
  /** For an app with a `clientMachine`: each event a client's message became, as its machine took it (empty otherwise). */
  readonly machineSteps: readonly MachineStep[];
  /** The connection of a server client id, if a generated client made it. */
  connectionOf(clientId: number): ConnectionRecord | undefined;
}

/** Writable forms, for the recorder. */
export type Mutable<T> = { -readonly [K in keyof T]: T[K] };
/** A connection as the runner fills it in. */
export type ConnectionEntry = Omit<Mutable<ConnectionRecord>, 'sent' | 'received'> & { sent: SentMessage[]; received: ReceivedMessage[] };
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** Collects the trace of one run. */
export class Recorder {
  /** Everything, in order. */
  readonly events: TraceEvent[] = [];
  /** Every hook call, in the order the server invoked them. */
  readonly hookCalls: Mutable<HookCall>[] = [];
  /** Every recorded Endpoint call, in call order. */
  readonly endpointCalls: Mutable<EndpointCall>[] = [];
  /** Every connection a generated client opened or tried, in step order. */
  readonly connections: ConnectionEntry[] = [];
  readonly #t0 = performance.now();
  #seq = 0;

  /** The next sequence number. */
  next(): number {
    return ++this.#seq;
  }

  /** Appends an event (numbered now). */
  add(event: DistributiveOmit<TraceEvent, 'seq' | 'atMs'>): number {
    const seq = this.next();
    this.events.push({ ...event, seq, atMs: Math.round((performance.now() - this.#t0) * 10) / 10 });
    return seq;
  }

  /** Appends a server event (start, stop, a log line, ...). */
  server(text: string): number {
    return this.add({ kind: 'server', text });
  }

  /** The connection of a server client id. */
  connectionOf(clientId: number): ConnectionEntry | undefined {
    return this.connections.find((c) => c.clientId === clientId);
  }

  /** The connection label of a server client id (`id 7` for a connection the kit did not make), or null. */
  labelOf(clientId: number | null): string | null {
    if (clientId === null) return null;
    return this.connectionOf(clientId)?.label ?? `id ${clientId}`;
  }
}
