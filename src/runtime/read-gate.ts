/**
 * Pauses reading from a socket while any reason holds (a full inbound queue, a rate limit)
 * and resumes only when none does, so two reasons never undo each other.
 */
export const PauseReason = { BACKLOG: 1, RATE: 2 } as const;

export class ReadGate {
  #reasons = 0;

  constructor(
    private readonly pause: () => void,
    private readonly resume: () => void,
    private readonly onHold: (reason: number) => void = () => undefined,
  ) {}

  get paused(): boolean {
    return this.#reasons !== 0;
  }

  has(reason: number): boolean {
    return (this.#reasons & reason) !== 0;
  }

  hold(reason: number): void {
    const before = this.#reasons;
    if ((before & reason) === 0) this.onHold(reason);
    this.#reasons |= reason;
    if (before === 0) this.pause();
  }

  release(reason: number): void {
    if ((this.#reasons & reason) === 0) return;
    this.#reasons &= ~reason;
    if (this.#reasons === 0) this.resume();
  }

  /** Resumes for good, e.g. so the peer's close frame can be read. */
  open(): void {
    if (this.#reasons === 0) return;
    this.#reasons = 0;
    this.resume();
  }
}

/**
 * Counts what one client sent in the current one-second window. `record` returns how many
 * ms reading must pause for the window to end, or 0 while under both limits.
 */
export class RateWindow {
  #start = Number.NEGATIVE_INFINITY;
  #bytes = 0;
  #messages = 0;

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
}
