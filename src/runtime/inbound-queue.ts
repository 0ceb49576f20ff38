/**
 * Messages of one client waiting for `onData` (C1, C3, C4): nothing is delivered before
 * `onOpen` settled, at most `concurrency` calls run at once, in arrival order, and reading
 * (and parsing) pauses while `maxQueued` messages or `maxBytes` bytes wait. `drained` fires once, after the close began,
 * when nothing waits and nothing runs. An idle connection drops its queue (see `idle`).
 */
import type { Message } from './message.js';
import { PauseReason } from './read-gate.js';

export interface InboundOwner {
  /**
   * Runs `onData`. A synchronous hook settles at once (returns a boolean); an async one
   * returns its promise, and a rejection goes to `deliveryFailed`.
   */
  deliver(message: Message): boolean | PromiseLike<unknown>;
  deliveryFailed(error: unknown): void;
  drained(): void;
  /** Pauses reading for `reason` (PauseReason) until released. */
  hold(reason: number): void;
  release(reason: number): void;
  /** Rate limits: a result > 0 holds further deliveries (and reading) for that many ms. */
  pace(message: Message): number;
  /** Runs `callback` after `ms` (the injected clock). */
  after(ms: number, callback: () => void): void;
}

const READY = 1;
const HALTED = 2;
const CLOSING = 4;
const DRAINED_SENT = 8;
const PACED = 16;

export class InboundQueue {
  readonly #waiting: Message[] = [];
  #bytes = 0;
  #running = 0;
  #flags: number;

  constructor(
    private readonly owner: InboundOwner,
    private readonly concurrency: number,
    private readonly maxQueued: number,
    private readonly maxBytes: number,
    ready: boolean,
  ) {
    this.#flags = ready ? READY : 0;
  }

  /** False once the queue was halted or the close began: further messages are to be dropped. */
  get accepting(): boolean {
    return (this.#flags & (HALTED | CLOSING)) === 0;
  }

  /** Ready, empty, nothing running, paced or closing: the queue can go and come back as new. */
  get idle(): boolean {
    return this.#flags === READY && this.#running === 0 && this.#waiting.length === 0;
  }

  /** `onOpen` runs: it counts as a running call so no `onData` overlaps it. */
  openStarted(): void {
    this.#running++;
  }

  openSettled(): void {
    this.#running--;
    this.#flags |= READY;
    this.pump();
  }

  push(message: Message): void {
    this.#waiting.push(message);
    this.#bytes += message.size;
    if (this.#full()) this.owner.hold(PauseReason.BACKLOG);
    this.pump();
  }

  /** Stops all further delivery; returns how many waiting messages were dropped. */
  halt(): number {
    this.#flags |= HALTED;
    const dropped = this.#waiting.length;
    this.#waiting.length = 0;
    this.#bytes = 0;
    this.#checkDrained();
    return dropped;
  }

  /** The close began: deliver what waits (unless halted), then report drained. */
  closeBegan(): void {
    this.#flags |= CLOSING;
    this.#checkDrained();
  }

  readonly #settled = (): void => {
    this.#running--;
    this.pump();
  };

  readonly #failed = (error: unknown): void => {
    this.owner.deliveryFailed(error);
    this.#settled();
  };

  pump(): void {
    const waiting = this.#waiting;
    while ((this.#flags & (READY | HALTED | PACED)) === READY && this.#running < this.concurrency && waiting.length > 0) {
      const message = waiting.shift() as Message;
      this.#bytes -= message.size;
      this.#running++;
      // A synchronous onData settles here; the loop goes on without a promise per message.
      const result = this.owner.deliver(message);
      if (typeof result === 'boolean') this.#running--;
      else void result.then(this.#settled, this.#failed);
      const waitMs = this.owner.pace(message);
      if (waitMs > 0) this.#pause(waitMs);
    }
    if ((this.#flags & CLOSING) === 0 && !this.#full()) this.owner.release(PauseReason.BACKLOG);
    this.#checkDrained();
  }

  #full(): boolean {
    return this.#waiting.length >= this.maxQueued || this.#bytes >= this.maxBytes;
  }

  #pause(waitMs: number): void {
    this.#flags |= PACED;
    this.owner.hold(PauseReason.RATE);
    this.owner.after(waitMs, () => {
      this.#flags &= ~PACED;
      this.owner.release(PauseReason.RATE);
      this.pump();
    });
  }

  #checkDrained(): void {
    if ((this.#flags & (CLOSING | DRAINED_SENT)) === CLOSING && this.#running === 0 && this.#waiting.length === 0) {
      this.#flags |= DRAINED_SENT;
      this.owner.drained();
    }
  }
}
