/**
 * How the live view and metrics count connections that ended, one definition for both: every
 * connection reaches `closed` once, as exactly one of a close after open, a rejected handshake
 * or an aborted handshake; an upgrade refused before a connection existed is none of them.
 */
import type { ConnectionTransition, LifecycleEvent } from '../runtime/lifecycle-events.js';

/**
 * How a connection ended:
 * - `closed`: it had opened (reached `open.opening`); metrics count it in `closes_total{code}`;
 * - `rejected`: its handshake was answered with an HTTP status (onHandshake rejected or threw,
 *   the handshake timed out, the server was stopping); `handshakes_total{outcome="rejected"}`;
 * - `aborted`: its socket went away (or it failed) while handshaking; `handshakes_total{outcome="aborted"}`.
 */
export type ConnectionEnd = 'closed' | 'rejected' | 'aborted';

/** How the connection of a transition to `closed` ended. */
export function endOf(e: ConnectionTransition): ConnectionEnd {
  if (e.outcome === 'rejected') return 'rejected';
  return e.from === null || e.from.startsWith('handshaking') ? 'aborted' : 'closed';
}

/** Running totals since the view started (they only grow), beside the current counts. */
export interface LiveViewTotals {
  /** Handshakes accepted: connections that reached `open.opening` (`handshakes_total{outcome="accepted"}`). */
  readonly opened: number;
  /** Connections closed after they opened (the sum of `closes_total`). */
  readonly closes: number;
  /** Handshakes answered with an HTTP status (`handshakes_total{outcome="rejected"}`). */
  readonly rejected: number;
  /** Handshakes whose socket went away first (`handshakes_total{outcome="aborted"}`). */
  readonly aborted: number;
  /** Upgrades refused before a connection existed: wrong path, bad request, origin, limit (`upgrades_refused_total`). */
  readonly refused: number;
}

/** Keeps {@link LiveViewTotals} from the lifecycle stream; `add` returns a closed connection's end. */
export class Totals {
  opened = 0;
  closes = 0;
  rejected = 0;
  aborted = 0;
  refused = 0;

  add(event: LifecycleEvent): ConnectionEnd | null {
    if (event.kind === 'refused') this.refused++;
    if (event.kind !== 'connection') return null;
    if (event.to === 'open.opening') this.opened++;
    if (event.to !== 'closed') return null;
    const end = endOf(event);
    if (end === 'closed') this.closes++;
    else if (end === 'rejected') this.rejected++;
    else this.aborted++;
    return end;
  }

  get(): LiveViewTotals {
    return { opened: this.opened, closes: this.closes, rejected: this.rejected, aborted: this.aborted, refused: this.refused };
  }
}
