/**
 * Coalesces broadcasts per socket while a server is busy broadcasting. The first broadcast
 * after a quiet spell is written through at once (no added latency); broadcasts that follow
 * it closely wait in each client's queue and go out together at the end of a short window,
 * one write of several frames per socket instead of one write each. On loopback a write
 * syscall per socket is most of a broadcast's cost, so this is what raises the sustained rate.
 *
 * The window is made of event-loop turns (setImmediate), not a timer of the injected clock:
 * it is about batching work, not about time the app can observe, and it must run under a
 * test's fake clock too. It lasts at least two turns (so a loop that yields between broadcasts
 * is caught) and ends at the first turn that brings no new broadcast, or once it is a quarter
 * as long as the last flush took (at least `MIN_WINDOW_MS`, at most `MAX_WINDOW_MS`): the
 * delay a deferred broadcast sees stays small next to the time it takes to write it anyway.
 */
const MIN_WINDOW_MS = 2;
const MAX_WINDOW_MS = 50;
const MAX_TURNS = 1000;

export interface OutboxMember {
  /** Writes what the member deferred, in order. */
  flushDeferred(): void;
}

export class Outbox {
  /** True from a written-through broadcast until a window passes with nothing deferred. */
  #open = false;
  /** The broadcast that opened the window: its other writes go through too. */
  #current: object | null = null;
  readonly #waiting = new Set<OutboxMember>();
  #grew = false;
  #turns = 0;
  #windowStart = 0;
  #windowMs = MIN_WINDOW_MS;

  /** True: write `message` now. False: defer it (queue it, then `enlist`). */
  writeThrough(message: object): boolean {
    if (!this.#open) {
      this.#open = true;
      this.#current = message;
      this.#schedule();
      return true;
    }
    if (message === this.#current) return true;
    this.#grew = true;
    return false;
  }

  enlist(member: OutboxMember): void {
    this.#waiting.add(member);
  }

  #schedule(): void {
    this.#turns = 0;
    this.#windowStart = -1;
    setImmediate(this.#turn);
  }

  readonly #turn = (): void => {
    const now = performance.now();
    if (this.#windowStart < 0) this.#windowStart = now;
    const turns = ++this.#turns;
    if ((turns < 2 || this.#grew) && turns < MAX_TURNS && now - this.#windowStart < this.#windowMs) {
      this.#grew = false;
      setImmediate(this.#turn);
      return;
    }
    this.#current = null;
    this.#grew = false;
    if (this.#waiting.size === 0) {
      this.#open = false;
      return;
    }
    const members = [...this.#waiting];
    this.#waiting.clear();
    for (const member of members) member.flushDeferred();
    const took = performance.now() - now;
    this.#windowMs = Math.min(MAX_WINDOW_MS, Math.max(MIN_WINDOW_MS, took / 4));
    // Still busy: broadcasts during the next window are coalesced too.
    this.#schedule();
  };
}
