/**
 * A typed stream of lifecycle transitions (server and every connection) and of upgrades
 * refused before a connection existed, for logs, live views and tests. Cheap when nobody listens: producers check `active` first.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { ConnectionState } from '../endpoint/client-info.js';
import type { ConnectionCommand, ConnectionOutcome } from '../machines/connection.js';
import type { Logger } from './logger.js';

/** Connection states as the stream names them: the connection machine's states that carry a command (see STATE_OF_COMMAND). */
export type LifecycleState =
  | 'handshaking'
  | 'handshaking.upgrading'
  | 'open.opening'
  | 'open.ready'
  | 'closing.draining'
  | 'closing.notifying'
  | 'closed';

/** Every connection state of the stream, in lifecycle order. */
export const LIFECYCLE_STATES: readonly LifecycleState[] = [
  'handshaking',
  'handshaking.upgrading',
  'open.opening',
  'open.ready',
  'closing.draining',
  'closing.notifying',
  'closed',
];

/** The state a connection command is emitted on entry to (commands without one are absent). */
export const STATE_OF_COMMAND: Readonly<Partial<Record<ConnectionCommand['type'], LifecycleState>>> = {
  'cmd.handshake': 'handshaking',
  'cmd.upgrade': 'handshaking.upgrading',
  'cmd.open': 'open.opening',
  'cmd.ready': 'open.ready',
  'cmd.close': 'closing.draining',
  'cmd.notifyClose': 'closing.notifying',
  'cmd.release': 'closed',
};

/** The `getInfo` state of a lifecycle state (null: not started yet). */
export function connectionStateOf(state: LifecycleState | null): ConnectionState {
  if (state === null || state.startsWith('handshaking')) return 'handshaking';
  if (state.startsWith('open')) return 'open';
  return state === 'closed' ? 'closed' : 'closing';
}

/** The hook whose settling caused a transition. */
export interface HookTiming {
  readonly name: 'onHandshake' | 'onOpen' | 'onClose';
  readonly durationMs: number;
  readonly ok: boolean;
}

export interface ConnectionTransition {
  readonly kind: 'connection';
  readonly clientId: number;
  readonly from: LifecycleState | null;
  readonly to: LifecycleState;
  /** Clock time of the transition, ms since the epoch. */
  readonly at: number;
  readonly hook: HookTiming | null;
  /** Set from `closing.draining` on. */
  readonly closeCode: number | null;
  readonly closeReason: string | null;
  /** On `closed`: how the connection ended; rejected handshakes carry their HTTP status. */
  readonly outcome: 'closed' | 'rejected' | 'aborted' | null;
  readonly status: number | null;
}

/** What a connection's transition record reads from the connection besides the command. */
export interface TransitionSubject {
  readonly id: number;
  readonly close_code: number | null;
  readonly close_reason: string;
  /** Set once a handshake was rejected: its HTTP status and body. */
  readonly rejected: { readonly rejectStatus: number | null; readonly rejectReason: string | null } | null;
}

/** The record of a transition `command` reported (null: aborted by a failure of the actor). */
export function connectionTransition(
  conn: TransitionSubject,
  from: LifecycleState | null,
  to: LifecycleState,
  at: number,
  hook: HookTiming | null,
  command: ConnectionCommand | null,
): ConnectionTransition {
  const [closeCode, closeReason, outcome] = command === null ? [conn.close_code, conn.close_reason, 'aborted' as const] : closeOf(command, conn);
  const status = outcome === 'rejected' ? (conn.rejected?.rejectStatus ?? null) : null;
  return { kind: 'connection', clientId: conn.id, from, to, at, hook, closeCode, closeReason, outcome, status };
}

/** The close code, reason and outcome a command reports. */
function closeOf(command: ConnectionCommand, conn: TransitionSubject): [number | null, string | null, ConnectionOutcome | null] {
  switch (command.type) {
    case 'cmd.close':
    case 'cmd.notifyClose':
      return [command.code, command.reason, null];
    case 'cmd.release':
      // A rejected handshake's reason is its HTTP body ("name required", "Service Unavailable").
      return [conn.close_code, command.outcome === 'rejected' ? (conn.rejected?.rejectReason ?? null) : conn.close_reason, command.outcome];
    default:
      return [null, null, null];
  }
}

export interface ServerTransition {
  readonly kind: 'server';
  readonly from: string | null;
  readonly to: string;
  readonly at: number;
}

/** A client machine's state changed (dotted state names; `from` null when it started). */
export interface ClientMachineTransition {
  readonly kind: 'client-machine';
  readonly clientId: number;
  readonly from: string | null;
  readonly to: string;
  readonly at: number;
}

/**
 * An upgrade request answered with an HTTP error before any connection existed (so it has no
 * client id and no `connection` events): a target that does not parse (400), another path
 * (404), a request that is no valid WebSocket upgrade (400, 405, 426, 505), a server not
 * running (503), an origin not allowed (403), `maxConnections` reached (503). Only the
 * server's own gate reports these (standalone, or attached for a matching path).
 */
export interface UpgradeRefusal {
  readonly kind: 'refused';
  readonly status: number;
  /** The body answered: why, e.g. `Not Found`, `Origin forbidden`. */
  readonly reason: string;
  /** The request's pathname (no query), or null when its target did not parse. */
  readonly path: string | null;
  readonly at: number;
}

export type LifecycleEvent = ConnectionTransition | ServerTransition | ClientMachineTransition | UpgradeRefusal;
export type LifecycleListener = (event: LifecycleEvent) => void;

export class LifecycleStream {
  readonly #listeners = new Set<LifecycleListener>();

  constructor(private readonly logger: Logger) {}

  /** True while at least one listener is subscribed. */
  get active(): boolean {
    return this.#listeners.size > 0;
  }

  /** Adds a listener; returns the function that removes it. */
  subscribe(listener: LifecycleListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(event: LifecycleEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        this.logger.error('lifecycle listener failed', error);
      }
    }
  }
}

/** A listener that appends every event as one JSON line to `path`; `close()` flushes it. */
export function jsonLinesWriter(path: string): { listener: LifecycleListener; close(): Promise<void> } {
  const out: WriteStream = createWriteStream(path, { flags: 'a' });
  out.on('error', (error) => console.error(`[wsactor] lifecycle log ${path}:`, error));
  return {
    listener: (event) => void out.write(JSON.stringify(event) + '\n'),
    close: () => new Promise((resolve) => out.end(resolve)),
  };
}
