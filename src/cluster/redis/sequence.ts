/**
 * Ordering and loss counting. Redis keeps the order of one connection's commands, so what one
 * node publishes arrives in publish order; but pub/sub is at-most-once, and a message
 * published while the receiver's subscriber reconnects is lost. Senders therefore number
 * their messages per channel ({@link NumberedPublisher}), and receivers count holes in those
 * numbers ({@link GapCounter}) instead of missing the losses silently.
 */
import type { Logger } from '../../runtime/logger.js';
import type { AdapterStats } from '../adapter.js';
import { encodeMessage, type WireMessage } from '../wire.js';

/**
 * One sender's sequence numbers, per channel, from 1. A publish that failed gives its number
 * back once every later number on that channel failed too (a dropped connection fails all
 * in-flight publishes at once), so receivers see no hole for a message the sender already
 * reported as failed. A hole below a later success stays: that message may be lost.
 */
export class SendNumbers {
  private readonly channels = new Map<string, { last: number; failed: Set<number> }>();

  /** Takes the next number on `channel`. */
  next(channel: string): number {
    let numbering = this.channels.get(channel);
    if (numbering === undefined) this.channels.set(channel, (numbering = { last: 0, failed: new Set() }));
    return ++numbering.last;
  }

  succeeded(channel: string, seq: number): void {
    const failed = this.channels.get(channel)?.failed;
    if (failed !== undefined && failed.size > 0) for (const n of failed) if (n < seq) failed.delete(n);
  }

  failed(channel: string, seq: number): void {
    const numbering = this.channels.get(channel);
    if (numbering === undefined) return;
    numbering.failed.add(seq);
    while (numbering.failed.delete(numbering.last)) numbering.last -= 1;
  }
}

/** What {@link NumberedPublisher} needs of a connection (a test passes a fake). */
export interface PublishTarget {
  /** `'ready'` when a publish is written at once; anything else refuses it. */
  readonly publisherStatus: string;
  /** Starts the write before it returns; resolves with the number of receivers. */
  publish(channel: string, bytes: Buffer): Promise<number>;
}

/** Numbers, encodes and publishes messages, and counts `published` and `publishFailed`. */
export class NumberedPublisher {
  readonly #numbers = new SendNumbers();
  readonly #target: PublishTarget;
  readonly #stats: Pick<AdapterStats, 'published' | 'publishFailed'>;

  constructor(target: PublishTarget, stats: Pick<AdapterStats, 'published' | 'publishFailed'>) {
    this.#target = target;
    this.#stats = stats;
  }

  /**
   * Publishes synchronously (the write starts before this returns, which keeps call order).
   * A publish refused while the connection is down takes no sequence number; one that fails
   * in flight may give it back (see {@link SendNumbers}). Resolves with the receiver count.
   */
  publish(channel: string, build: (seq: number) => WireMessage): Promise<number> {
    const status = this.#target.publisherStatus;
    if (status !== 'ready') {
      this.#stats.publishFailed += 1;
      return Promise.reject(new Error(`Redis connection is ${status}`));
    }
    const seq = this.#numbers.next(channel);
    return this.#target.publish(channel, encodeMessage(build(seq))).then(
      (receivers) => {
        this.#stats.published += 1;
        this.#numbers.succeeded(channel, seq);
        return receivers;
      },
      (error: unknown) => {
        this.#stats.publishFailed += 1;
        this.#numbers.failed(channel, seq);
        throw error;
      },
    );
  }
}

/** Receiver side: the last number seen per sender and channel; holes are added to `stats.gaps` and logged. */
export class GapCounter {
  readonly #lastSeen = new Map<string, number>();
  readonly #allChannel: string;
  readonly #stats: Pick<AdapterStats, 'gaps'>;
  readonly #logger: Logger;

  constructor(allChannel: string, stats: Pick<AdapterStats, 'gaps'>, logger: Logger) {
    this.#allChannel = allChannel;
    this.#stats = stats;
    this.#logger = logger;
  }

  /**
   * Notes message `seq` from node `from` on `channel`. A node channel is new when its node
   * joins, so every sender's numbers on it start at 1; the all channel is older than this
   * node, so there the first message only sets the baseline.
   */
  check(from: number, channel: string, seq: number): void {
    const key = `${from} ${channel}`;
    const last = this.#lastSeen.get(key) ?? (channel === this.#allChannel ? undefined : 0);
    this.#lastSeen.set(key, seq);
    // seq <= last: the sender reused numbers of publishes that failed in flight; not a loss.
    if (last === undefined || seq <= last + 1) return;
    const missing = seq - last - 1;
    this.#stats.gaps += missing;
    this.#logger.warn(`${missing} cluster message(s) from node ${from} on ${channel} never arrived (numbers ${last + 1}..${seq - 1})`);
  }
}
