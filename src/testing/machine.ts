/**
 * Apps with a per-client machine (`clientMachine`): client messages derived from the machine
 * itself, and the watch that checks each client's machine against the machine's own
 * transitions during a run.
 *
 * - {@link fromMachine} is what `checkApp({ messages: fromMachine() })` takes: the messages
 *   are the machine's own event types (payloads from your arbitraries, or `{}`), plus whole
 *   paths to each of its states found by `xstate/graph` (`getShortestPaths`, bounded), sent
 *   by one client one after the other, so every state is reached through real sockets.
 * - {@link MachineWatch} follows every client machine through XState's inspection API: for
 *   each event a message became it computes the machine's own transition (`transition()`,
 *   pure, from the snapshot just before) and records it with the state the actor reached and
 *   the state wsactor reports (`getLocalInfo(id).machine_state`).
 */
import type { Arbitrary } from 'fast-check';
import { initialTransition, transition, type AnyActorRef, type AnyMachineSnapshot, type AnyStateMachine, type EventObject, type InspectionEvent } from 'xstate';
import { getShortestPaths } from 'xstate/graph';
import { clientOf, type ClientMachineConfig } from '../client-machine.js';
import type { Endpoint } from '../endpoint/types.js';
import { stateName } from '../runtime/client-machine-runner.js';
import type { ClientMessage, FastCheck } from './scenario.js';

/** Options of {@link fromMachine}. */
export interface FromMachineOptions {
  /**
   * The fields of each event type, besides `type` (e.g. `{ login: fc.record({ name: fc.string() }) }`).
   * An event type without one is sent as `{ type }` alone.
   */
  readonly payloads?: Readonly<Record<string, Arbitrary<Record<string, unknown>>>>;
  /** Turns an event into the message that decodes to it. Default: `JSON.stringify(event)` (the default decoder's format). */
  readonly encode?: (event: EventObject) => ClientMessage;
  /** Also send messages the machine does not know (not JSON, an unknown type, a reserved type), now and then. Default: true. */
  readonly invalid?: boolean;
  /** Send whole paths to the machine's states (one client, message after message). Default: true. */
  readonly paths?: boolean;
  /** Most paths kept (the shortest path to each state, `xstate/graph`). Default: 50. */
  readonly maxPaths?: number;
}

/** What `checkApp`'s `messages` takes for an app with a `clientMachine`: see {@link fromMachine}. */
export interface MachineMessages {
  readonly kind: 'wsactor/testing:from-machine';
  readonly options: FromMachineOptions;
}

/**
 * Client messages derived from the app's client machine: its event types (with `payloads`),
 * and paths to each of its states. With it, `checkApp` also checks each client's machine:
 * every message accepted moves it as the machine itself says (and as `machine_state` reports),
 * accepted events arrive in the order sent, and a client that closes has all of its messages
 * either accepted or counted in `messages_rejected`.
 *
 * @example
 * await checkApp({ app: () => new LobbyApp(), messages: fromMachine({ payloads: { name: fc.record({ name: fc.constantFrom('ada', 'bob') }) } }) });
 */
export function fromMachine(options: FromMachineOptions = {}): MachineMessages {
  return { kind: 'wsactor/testing:from-machine', options };
}

/** True for a {@link fromMachine} value. */
export function isMachineMessages(value: unknown): value is MachineMessages {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'wsactor/testing:from-machine';
}

const isReserved = (type: string): boolean => type.startsWith('xstate.') || type.startsWith('wsactor.') || type === '*' || type === '';

/** The event types a client can send the machine: every type its states accept, but XState's and wsactor's own. */
export function clientEventTypes(machine: AnyStateMachine): string[] {
  return [...new Set(machine.root.events.map(String))].filter((type) => !isReserved(type)).sort();
}

/** `{ a: { b: 'c' } }` → `a.b.c`: the runtime's own, as `machine_state` reports it. */
export { stateName };

/** What the runner generates from a {@link MachineMessages}. */
export interface MachineArbitraries {
  readonly messages: Arbitrary<ClientMessage>;
  /** Whole paths (null: none found, or turned off). */
  readonly paths: Arbitrary<readonly ClientMessage[]> | null;
  /** The states the paths reach, by name (for the report of what was covered). */
  readonly pathTargets: readonly string[];
  /** Why the traversal failed (then there are no paths, only single events), or null. */
  readonly pathsError: string | null;
  readonly eventTypes: readonly string[];
}

/** The arbitraries of a machine's messages (see {@link fromMachine}). */
export function machineArbitraries(fc: FastCheck, config: ClientMachineConfig, spec: MachineMessages): MachineArbitraries {
  const { machine } = config;
  const options = spec.options;
  const encode = options.encode ?? ((event: EventObject) => JSON.stringify(event));
  const eventTypes = clientEventTypes(machine);
  if (eventTypes.length === 0) throw new Error('fromMachine(): the client machine accepts no event a client can send');
  const unknownPayload = Object.keys(options.payloads ?? {}).filter((type) => !eventTypes.includes(type));
  if (unknownPayload.length > 0) throw new Error(`fromMachine(): payloads for ${unknownPayload.join(', ')}, which the machine does not accept (it accepts ${eventTypes.join(', ')})`);
  const eventOf = (type: string): Arbitrary<EventObject> =>
    (options.payloads?.[type] ?? fc.constant({})).map((fields): EventObject => ({ ...fields, type }));
  const events = eventTypes.map(eventOf);
  const valid = fc.oneof(...events).map(encode);
  const invalid = fc.constantFrom<ClientMessage>('not json', '{"type":"wsactor-testing.unknown"}', '{"type":"wsactor.close","code":1000,"reason":""}', '[]');
  const messages = options.invalid === false ? valid : fc.oneof({ weight: 9, arbitrary: valid }, { weight: 1, arbitrary: invalid });

  if (options.paths === false) return { messages, paths: null, pathTargets: [], pathsError: null, eventTypes };
  // Concrete events for the traversal: a few of each type, the same every time.
  const samples = events.flatMap((arbitrary) => fc.sample(arbitrary, { numRuns: 3, seed: 1 }));
  const unique = [...new Map(samples.map((event) => [JSON.stringify(event), event])).values()];
  let found: { target: string; messages: ClientMessage[] }[] = [];
  let pathsError: string | null = null;
  try {
    const [start] = initialTransition(machine, { clientId: 0, handshake: undefined });
    const paths = getShortestPaths(machine, {
      fromState: start,
      // What happens by itself (an invoked call answering) is a step too; the client sends the rest.
      events: (snapshot: AnyMachineSnapshot) => [
        ...unique,
        ...Object.keys(snapshot.children as Record<string, unknown>).flatMap((id) => [
          { type: `xstate.done.actor.${id}`, output: undefined },
          { type: `xstate.error.actor.${id}`, error: new Error('wsactor/testing traversal') },
        ]),
      ],
      serializeState: (snapshot: AnyMachineSnapshot) => `${snapshot.status} ${stateName(snapshot.value)}`,
      limit: 2000,
    } as never) as { state: AnyMachineSnapshot; steps: { event: EventObject }[] }[];
    found = paths
      .map((path) => ({
        target: stateName(path.state.value),
        messages: path.steps.map((step) => step.event).filter((event) => !isReserved(event.type)).map(encode),
      }))
      .filter((path) => path.messages.length > 0)
      .slice(0, options.maxPaths ?? 50);
  } catch (error) {
    // A machine the pure traversal cannot walk (a guard that needs a live actor, a payload it cannot take): single events only.
    found = [];
    pathsError = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  }
  // Each path as likely as the others (constantFrom favours the first).
  const pathArbitrary = found.length === 0 ? null : fc.noBias(fc.nat({ max: found.length - 1 })).map((i) => (found[i] as { messages: ClientMessage[] }).messages);
  return { messages, paths: pathArbitrary, pathTargets: found.map((path) => path.target), pathsError, eventTypes };
}

/** One event a client's message became, as the machine took it. */
export interface MachineStep {
  readonly clientId: number;
  /** The event (as decoded). */
  readonly event: EventObject;
  /** The state before (dotted). */
  readonly from: string;
  /** The state the machine's own `transition()` says it goes to, or null if it could not be computed (the reason in `error`). */
  readonly expected: string | null;
  /** The state the actor reached. */
  readonly actual: string | null;
  /** What wsactor reported right after (`getLocalInfo(id).machine_state`), or undefined if the client was gone. */
  readonly reported: string | null | undefined;
  readonly error: string | null;
  /** The run's sequence number when the machine got it. */
  readonly seq: number;
}

/** Per client: the machine steps, and whether the machine ended by itself (final state or error). */
export class MachineWatch {
  readonly steps: MachineStep[] = [];
  /** Client ids whose machine reached a final state or failed. */
  readonly ended = new Set<number>();
  readonly #pending = new Map<object, { step: Omit<MachineStep, 'actual' | 'reported'>; snapshot: AnyMachineSnapshot | null }>();
  endpoint: Endpoint | null = null;

  constructor(
    private readonly machine: AnyStateMachine,
    private readonly next: () => number,
    private readonly note: (clientId: number, text: string) => void,
  ) {}

  /** The `inspect` observer the server gets. */
  readonly inspect = (event: InspectionEvent): void => {
    if (event.type !== '@xstate.event' && event.type !== '@xstate.snapshot') return;
    let clientId: number;
    try {
      clientId = clientOf(event.actorRef as AnyActorRef).id;
    } catch {
      return; // a connection actor, an invoked one, the root
    }
    if (event.type === '@xstate.event') {
      // A message's event: sent by the runner from outside (no source); the close event is wsactor's own.
      if (event.sourceRef !== undefined || event.event.type === 'wsactor.close' || event.event.type.startsWith('xstate.')) return;
      const before = event.actorRef.getSnapshot() as AnyMachineSnapshot;
      let expected: string | null = null;
      let error: string | null = null;
      try {
        const [after] = transition(this.machine, before, event.event as never) as [AnyMachineSnapshot, unknown];
        expected = stateName(after.value);
      } catch (e) {
        error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      }
      this.#pending.set(event.event, { step: { clientId, event: event.event, from: stateName(before.value), expected, error, seq: this.next() }, snapshot: null });
      return;
    }
    const snapshot = event.snapshot as AnyMachineSnapshot;
    if (snapshot.status === 'done' || snapshot.status === 'error') this.ended.add(clientId);
    const pending = this.#pending.get(event.event);
    if (pending === undefined) return;
    this.#pending.delete(event.event);
    const actual = stateName(snapshot.value);
    const reported = this.endpoint?.getLocalInfo(clientId)?.machine_state;
    this.steps.push({ ...pending.step, actual, reported });
    const moved = pending.step.from === actual ? `stays in ${actual}` : `${pending.step.from} -> ${actual}`;
    this.note(clientId, `machine: ${JSON.stringify(pending.step.event)} (${moved})`);
  };
}
