/**
 * Heartbeats of all open connections of one server, on one timer. A client is pinged after
 * `heartbeatMs` without reading anything from it; more than `maxUnanswered` pings without a
 * read in between means the peer is gone.
 *
 * Why one sweep: a timer, a heartbeat object and its closures per connection cost about
 * 400 bytes of every idle connection. Here each connection only carries four fields (it is its
 * own list node) and the list is kept sorted by the time of each one's next check, so the one
 * timer always fires for the earliest and the timings are exactly those of a timer per client.
 */
import type { Clock } from './clock.js';

/** A connection as a node of the sweep's list. */
export interface HeartbeatMember {
  hbPrev: HeartbeatMember | null;
  hbNext: HeartbeatMember | null;
  /** When to check next; -1 while not in the list. */
  hbDue: number;
  hbUnanswered: number;
  /** Time anything was last read from the client. */
  lastReadTime(): number;
  ping(): void;
  /** Too many unanswered pings. */
  giveUp(): void;
}

export class HeartbeatSweep {
  #head: HeartbeatMember | null = null;
  #tail: HeartbeatMember | null = null;
  #timer: unknown = null;
  #timerDue = Number.POSITIVE_INFINITY;

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly maxUnanswered: number,
  ) {}

  /** Starts watching a client: first check `heartbeatMs` from now. */
  add(member: HeartbeatMember): void {
    if (member.hbDue >= 0) return;
    member.hbUnanswered = 0;
    this.#insert(member, this.clock.now() + this.intervalMs);
    this.#arm();
  }

  remove(member: HeartbeatMember): void {
    if (member.hbDue < 0) return;
    this.#unlink(member);
    if (this.#head === null && this.#timer !== null) {
      this.clock.clearTimeout(this.#timer);
      this.#timer = null;
      this.#timerDue = Number.POSITIVE_INFINITY;
    }
  }

  /** Anything read from the peer proves it alive (the list is fixed up lazily, at its check). */
  static alive(member: HeartbeatMember): void {
    member.hbUnanswered = 0;
  }

  readonly #tick = (): void => {
    this.#timer = null;
    this.#timerDue = Number.POSITIVE_INFINITY;
    const now = this.clock.now();
    for (let member = this.#head; member !== null && member.hbDue <= now; member = this.#head) {
      this.#unlink(member);
      this.#check(member, now);
    }
    this.#arm();
  };

  /** The same decision a per-client timer made when it fired. */
  #check(member: HeartbeatMember, now: number): void {
    const lastRead = member.lastReadTime();
    if (now - lastRead < this.intervalMs && member.hbUnanswered === 0) {
      this.#insert(member, lastRead + this.intervalMs);
    } else if (member.hbUnanswered >= this.maxUnanswered) {
      member.giveUp();
    } else {
      member.hbUnanswered++;
      this.#insert(member, now + this.intervalMs);
      member.ping();
    }
  }

  #arm(): void {
    const head = this.#head;
    if (head === null || head.hbDue >= this.#timerDue) return;
    if (this.#timer !== null) this.clock.clearTimeout(this.#timer);
    this.#timerDue = head.hbDue;
    this.#timer = this.clock.setTimeout(this.#tick, head.hbDue - this.clock.now());
  }

  /**
   * Sorted insert, searching from the nearer end: a ping reschedules to now + interval (the
   * tail), a check after a pong to lastRead + interval (next to the head). Searching from the
   * tail alone made the second case O(n): 72 % of an idle worker's time at 12.7k clients.
   */
  #insert(member: HeartbeatMember, due: number): void {
    member.hbDue = due;
    const head = this.#head;
    const tail = this.#tail;
    let after: HeartbeatMember | null;
    if (head !== null && tail !== null && due - head.hbDue < tail.hbDue - due) {
      // Walk forward to the last member due at or before `due`.
      let next: HeartbeatMember | null = head;
      after = null;
      while (next !== null && next.hbDue <= due) {
        after = next;
        next = next.hbNext;
      }
    } else {
      after = tail;
      while (after !== null && after.hbDue > due) after = after.hbPrev;
    }
    member.hbPrev = after;
    member.hbNext = after === null ? this.#head : after.hbNext;
    if (member.hbNext === null) this.#tail = member;
    else member.hbNext.hbPrev = member;
    if (after === null) this.#head = member;
    else after.hbNext = member;
  }

  #unlink(member: HeartbeatMember): void {
    const { hbPrev: prev, hbNext: next } = member;
    if (prev === null) this.#head = next;
    else prev.hbNext = next;
    if (next === null) this.#tail = prev;
    else next.hbPrev = prev;
    member.hbPrev = null;
    member.hbNext = null;
    member.hbDue = -1;
  }
}

const sweeps = new WeakMap<object, HeartbeatSweep>();

/** The sweep of one server, found by an object the server owns (its resolved options). */
export function heartbeatSweepOf(owner: object, clock: Clock, intervalMs: number, maxUnanswered: number): HeartbeatSweep {
  let sweep = sweeps.get(owner);
  if (sweep === undefined) {
    sweep = new HeartbeatSweep(clock, intervalMs, maxUnanswered);
    sweeps.set(owner, sweep);
  }
  return sweep;
}
