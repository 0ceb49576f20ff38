/**
 * When idle open connections drop their actor (see docs/lifecycle.md, "Hibernation"): not as
 * soon as `onOpen` settled but `HIBERNATE_AFTER_MS` later, like OTP's `hibernate_after`. A
 * short-lived connection then never pays for a second actor at its close (about a third of
 * the actor cost of a connect-message-close cycle), and a long-lived idle one still ends up
 * with nothing but the fact that it is in `open.ready`. One queue and timer per server
 * (in its ServerServices).
 *
 * A closing connection leaves the set at once: holding it (and its socket) until its time
 * came would move short-lived connections into the old generation of the heap.
 */
import type { Clock } from './clock.js';

export const HIBERNATE_AFTER_MS = 250;

export interface Hibernating {
  /** Set by the queue: when the connection may hibernate. */
  hibernateAt: number;
  /** Called once the delay is over; the connection decides whether it can hibernate now. */
  hibernate(): void;
}

export class HibernationQueue {
  /** In insertion order, which is the order of `hibernateAt`. */
  readonly #members = new Set<Hibernating>();
  #timer: unknown = null;

  constructor(private readonly clock: Clock) {}

  add(member: Hibernating): void {
    this.#members.delete(member);
    member.hibernateAt = this.clock.now() + HIBERNATE_AFTER_MS;
    this.#members.add(member);
    if (this.#timer === null) this.#timer = this.clock.setTimeout(this.#tick, HIBERNATE_AFTER_MS);
  }

  remove(member: Hibernating): void {
    this.#members.delete(member);
  }

  readonly #tick = (): void => {
    this.#timer = null;
    const now = this.clock.now();
    let next: Hibernating | null = null;
    for (const member of this.#members) {
      if (member.hibernateAt > now) {
        next = member;
        break;
      }
      this.#members.delete(member);
      member.hibernate();
    }
    if (next !== null) this.#timer = this.clock.setTimeout(this.#tick, next.hibernateAt - now);
  };

  /** The server is gone: no more ticks. */
  dispose(): void {
    if (this.#timer !== null) this.clock.clearTimeout(this.#timer);
    this.#timer = null;
    this.#members.clear();
  }
}
