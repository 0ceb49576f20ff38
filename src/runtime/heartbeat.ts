/**
 * Pings a client after `heartbeatMs` without reading anything from it; more than
 * `maxUnanswered` pings without a read in between means the peer is gone.
 */
import type { Clock } from './clock.js';

export interface HeartbeatTarget {
  /** Time anything was last read from the client. */
  lastReadAt(): number;
  ping(): void;
  giveUp(): void;
}

export class Heartbeat {
  #timer: unknown = null;
  #unanswered = 0;
  #stopped = false;

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly maxUnanswered: number,
    private readonly target: HeartbeatTarget,
  ) {}

  get unanswered(): number {
    return this.#unanswered;
  }

  start(): void {
    this.#arm(this.intervalMs);
  }

  /** Anything read from the peer proves it alive. */
  alive(): void {
    this.#unanswered = 0;
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) this.clock.clearTimeout(this.#timer);
    this.#timer = null;
  }

  #arm(ms: number): void {
    if (this.#stopped) return;
    this.#timer = this.clock.setTimeout(() => this.#tick(), ms);
  }

  #tick(): void {
    this.#timer = null;
    const quiet = this.clock.now() - this.target.lastReadAt();
    if (quiet < this.intervalMs && this.#unanswered === 0) {
      this.#arm(this.intervalMs - quiet);
      return;
    }
    if (this.#unanswered >= this.maxUnanswered) {
      this.target.giveUp();
      return;
    }
    this.#unanswered++;
    this.target.ping();
    this.#arm(this.intervalMs);
  }
}
