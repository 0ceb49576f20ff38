/**
 * The live counts on the live view's diagrams: connections per state of the connection
 * machine (from the lifecycle counts) and clients per state of the app machine (from the
 * `client-machine` transitions), keyed by state path; a compound state counts every client
 * inside it, once.
 */
import { connectionMachine } from '../machines/connection.js';
import { LIFECYCLE_STATES, type LifecycleState } from '../runtime/lifecycle-events.js';
import { describeMachine, statePaths, type MachineDiagram } from './machine-diagram.js';

let connectionDiagram: MachineDiagram | null = null;

/** The connection machine's diagram (the same for every view). */
export function connectionMachineDiagram(): MachineDiagram {
  return (connectionDiagram ??= describeMachine(connectionMachine));
}

/** For each lifecycle state, the diagram states it counts in (its state and their ancestors). */
const connectionPaths = new WeakMap<MachineDiagram, readonly (readonly [LifecycleState, readonly string[]])[]>();

/**
 * Lifecycle counts on the connection diagram. The stream names the machine's states that
 * carry a command; `handshaking` is its unnamed first step, `handshaking.deciding`.
 */
export function connectionDiagramCounts(diagram: MachineDiagram, counts: Record<LifecycleState, number>): Record<string, number> {
  let mapping = connectionPaths.get(diagram);
  if (mapping === undefined) {
    const named = new Set<string>(LIFECYCLE_STATES);
    const known = new Set(diagram.states.map((s) => s.path));
    mapping = diagram.states
      .filter((s) => s.type !== 'compound' && s.type !== 'parallel')
      .map((s) => [named.has(s.path) ? s.path : s.parent, statePaths(s.path, known)] as const)
      .filter((entry): entry is readonly [LifecycleState, string[]] => entry[0] !== null && named.has(entry[0]));
    connectionPaths.set(diagram, mapping);
  }
  const out: Record<string, number> = Object.fromEntries(diagram.states.map((s) => [s.path, 0]));
  for (const [state, paths] of mapping) for (const path of paths) out[path] = (out[path] ?? 0) + counts[state];
  return out;
}

/** Lifecycle states from which a client no longer counts in its app machine: the actor stops before `onClose`. */
export const APP_MACHINE_DONE: ReadonlySet<LifecycleState> = new Set(['closing.notifying', 'closed']);

/** Clients per state of an app machine's diagram. */
export class AppStateCounts {
  readonly #known: ReadonlySet<string>;
  /** Each counted client's states (leaves and their ancestors). */
  readonly #in = new Map<number, readonly string[]>();
  readonly #counts = new Map<string, number>();

  constructor(private readonly diagram: MachineDiagram) {
    this.#known = new Set(diagram.states.map((s) => s.path));
  }

  has(clientId: number): boolean {
    return this.#in.has(clientId);
  }

  /** Moves a client to the state value `value` (dotted, as the lifecycle stream names it); null: it no longer counts. */
  move(clientId: number, value: string | null): void {
    for (const path of this.#in.get(clientId) ?? []) this.#counts.set(path, (this.#counts.get(path) ?? 0) - 1);
    if (value === null) {
      this.#in.delete(clientId);
      return;
    }
    const paths = statePaths(value, this.#known);
    this.#in.set(clientId, paths);
    for (const path of paths) this.#counts.set(path, (this.#counts.get(path) ?? 0) + 1);
  }

  /** Every state of the diagram with its count. */
  counts(): Record<string, number> {
    return Object.fromEntries(this.diagram.states.map((s) => [s.path, this.#counts.get(s.path) ?? 0]));
  }
}
