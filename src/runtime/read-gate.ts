/**
 * Why reading from a socket is paused, and the per-client rate window. Reading pauses while
 * any reason holds (a full inbound queue, a rate limit) and resumes only when none does, so
 * two reasons never undo each other; ClientSocket keeps the reasons as bits of one number.
 */
import type { Clock } from './clock.js';

export const PauseReason = { BACKLOG: 1, RATE: 2 } as const;

/**
 * Counts what one client sent in the current one-second window. `record` returns how many
 * ms reading must pause for the window to end, or 0 while under both limits. Created only
 * when a rate limit is set; it also holds the timer of a pause in progress.
 */
export class RateWindow {
  #start = Number.NEGATIVE_INFINITY;
  #bytes = 0;
  #messages = 0;
  #timer: unknown = null;
  #resume: (() => void) | null = null;

  constructor(
    private readonly maxBytes: number | null,
    private readonly maxMessages: number | null,
  ) {}

  record(bytes: number, now: number): number {
    if (now - this.#start >= 1000) {
      this.#start = now;
      this.#bytes = 0;
      this.#messages = 0;
    }
    this.#bytes += bytes;
    this.#messages++;
    const over =
      (this.maxBytes !== null && this.#bytes >= this.maxBytes) || (this.maxMessages !== null && this.#messages >= this.maxMessages);
    return over ? Math.max(1, this.#start + 1000 - now) : 0;
  }

  /** Calls `resume` after `ms`, or earlier from `endPause`. */
  pause(clock: Clock, ms: number, resume: () => void): void {
    this.#resume = resume;
    this.#timer = clock.setTimeout(() => this.endPause(clock), ms);
  }

  endPause(clock: Clock): void {
    if (this.#timer !== null) clock.clearTimeout(this.#timer);
    this.#timer = null;
    const resume = this.#resume;
    this.#resume = null;
    resume?.();
  }
}
