/**
 * When idle open connections drop their actor (see docs/lifecycle.md, "Hibernation"): not as
 * soon as `onOpen` settled but `HIBERNATE_AFTER_MS` later, like OTP's `hibernate_after`. A
 * short-lived connection then never pays for a second actor at its close (about a third of
 * the actor cost of a connect-message-close cycle), and a long-lived idle one still ends up
 * with nothing but the fact that it is in `open.ready`. One timer per server, a FIFO queue.
 */
import type { Clock } from './clock.js';

export const HIBERNATE_AFTER_MS = 250;

export interface Hibernating {
  /** Called once the delay is over; the connection decides whether it can hibernate now. */
  hibernate(): void;
}

export class HibernationQueue {
  #members: (Hibernating | undefined)[] = [];
  #times: number[] = [];
  #first = 0;
  #timer: unknown = null;

  constructor(private readonly clock: Clock) {}

  add(member: Hibernating): void {
    this.#members.push(member);
    this.#times.push(this.clock.now() + HIBERNATE_AFTER_MS);
    if (this.#timer === null) this.#timer = this.clock.setTimeout(this.#tick, HIBERNATE_AFTER_MS);
  }

  readonly #tick = (): void => {
    this.#timer = null;
    const now = this.clock.now();
    const members = this.#members;
    const times = this.#times;
    let i = this.#first;
    for (; i < members.length && (times[i] ?? 0) <= now; i++) {
      const member = members[i];
      members[i] = undefined;
      member?.hibernate();
    }
    if (i === members.length) {
      this.#members = [];
      this.#times = [];
      this.#first = 0;
      return;
    }
    if (i > 1024 && i * 2 > members.length) {
      this.#members = members.slice(i);
      this.#times = times.slice(i);
      i = 0;
    }
    this.#first = i;
    this.#timer = this.clock.setTimeout(this.#tick, (times[i] ?? now) - now);
  };
}

const queues = new WeakMap<object, HibernationQueue>();

/** The queue of one server, found by an object the server owns (its resolved options). */
export function hibernationQueueOf(owner: object, clock: Clock): HibernationQueue {
  let queue = queues.get(owner);
  if (queue === undefined) {
    queue = new HibernationQueue(clock);
    queues.set(owner, queue);
  }
  return queue;
}
