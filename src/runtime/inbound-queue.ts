/**
 * Messages of one client waiting for `onData` (C1, C3, C4): nothing is delivered before
 * `onOpen` settled, at most `concurrency` calls run at once, in arrival order, and reading
 * pauses while more than `maxQueued` wait. `drained` fires once, after the close began,
 * when nothing waits and nothing runs.
 */
import type { Message } from './message.js';
import { PauseReason, type ReadGate } from './read-gate.js';

export interface InboundHandlers {
  /** Runs `onData`; resolves false when it threw or rejected. */
  deliver(message: Message): Promise<boolean>;
  drained(): void;
  /**
   * Rate limits: called as each message is handed to onData; a result > 0 holds further
   * deliveries (and reading) for that many ms. Optional.
   */
  pace?(message: Message): number;
  /** Runs `callback` after `ms` (the injected clock). Needed with `pace`. */
  after?(ms: number, callback: () => void): void;
}

export class InboundQueue {
  readonly #waiting: Message[] = [];
  #running = 0;
  #ready = false;
  #halted = false;
  #closing = false;
  #drainedSent = false;
  #paced = false;

  constructor(
    private readonly concurrency: number,
    private readonly maxQueued: number,
    private readonly gate: ReadGate,
    private readonly handlers: InboundHandlers,
  ) {}

  /** False once the queue was halted: further messages are to be dropped. */
  get accepting(): boolean {
    return !this.#halted && !this.#closing;
  }

  /** `onOpen` runs: it counts as a running call so no `onData` overlaps it. */
  openStarted(): void {
    this.#running++;
  }

  openSettled(): void {
    this.#running--;
    this.#ready = true;
    this.pump();
  }

  push(message: Message): void {
    this.#waiting.push(message);
    if (this.#waiting.length >= this.maxQueued) this.gate.hold(PauseReason.BACKLOG);
    this.pump();
  }

  /** Stops all further delivery; returns how many waiting messages were dropped. */
  halt(): number {
    this.#halted = true;
    const dropped = this.#waiting.length;
    this.#waiting.length = 0;
    this.#checkDrained();
    return dropped;
  }

  /** The close began: deliver what waits (unless halted), then report drained. */
  closeBegan(): void {
    this.#closing = true;
    this.#checkDrained();
  }

  pump(): void {
    while (this.#ready && !this.#halted && !this.#paced && this.#running < this.concurrency && this.#waiting.length > 0) {
      const message = this.#waiting.shift() as Message;
      this.#running++;
      void this.handlers.deliver(message).then(() => {
        this.#running--;
        this.pump();
      });
      const waitMs = this.handlers.pace?.(message) ?? 0;
      if (waitMs > 0) this.#pause(waitMs);
    }
    if (!this.#closing && this.#waiting.length < this.maxQueued) this.gate.release(PauseReason.BACKLOG);
    this.#checkDrained();
  }

  #pause(waitMs: number): void {
    this.#paced = true;
    this.gate.hold(PauseReason.RATE);
    this.handlers.after?.(waitMs, () => {
      this.#paced = false;
      this.gate.release(PauseReason.RATE);
      this.pump();
    });
  }

  #checkDrained(): void {
    if (this.#closing && !this.#drainedSent && this.#running === 0 && this.#waiting.length === 0) {
      this.#drainedSent = true;
      this.handlers.drained();
    }
  }
}
