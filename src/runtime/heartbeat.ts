/**
 * Heartbeats of all open connections of one server, on one timer. A client is pinged after
 * `heartbeatMs` without reading anything from it; more than `maxUnanswered` pings without a
 * read in between means the peer is gone.
 *
 * Why one sweep: a timer, a heartbeat object and its closures per connection cost about
 * 400 bytes of every idle connection. Here each connection carries three numbers (its place in
 * the sweep's binary heap, when to check it next, unanswered pings), the heap keeps the earliest
 * check on top, and the one timer fires for it: the timings are exactly those of a timer per
 * client, and each check costs O(log n) whatever order the checks come in. (A sorted list cost
 * O(n) per check when pongs came back: every re-check then lands near the front.)
 */
import type { Clock } from './clock.js';

/** A connection as an entry of the sweep's heap. */
export interface HeartbeatMember {
  /** Index in the heap; -1 while not in it. */
  hbIndex: number;
  /** When to check next. */
  hbDue: number;
  hbUnanswered: number;
  /** Time anything was last read from the client. */
  lastReadTime(): number;
  ping(): void;
  /** Too many unanswered pings. */
  giveUp(): void;
}

export class HeartbeatSweep {
  readonly #heap: HeartbeatMember[] = [];
  #timer: unknown = null;
  #timerDue = Number.POSITIVE_INFINITY;

  constructor(
    private readonly clock: Clock,
    /** null: heartbeats are off and `add` does nothing. */
    private readonly intervalMs: number | null,
    private readonly maxUnanswered: number,
  ) {}

  /** Starts watching a client: first check `heartbeatMs` from now. */
  add(member: HeartbeatMember): void {
    if (member.hbIndex >= 0 || this.intervalMs === null) return;
    member.hbUnanswered = 0;
    this.#push(member, this.clock.now() + this.intervalMs);
    this.#arm();
  }

  remove(member: HeartbeatMember): void {
    const index = member.hbIndex;
    if (index < 0) return;
    const heap = this.#heap;
    const last = heap.pop() as HeartbeatMember;
    member.hbIndex = -1;
    if (last !== member) {
      heap[index] = last;
      last.hbIndex = index;
      this.#siftDown(this.#siftUp(index));
    }
    if (heap.length === 0 && this.#timer !== null) {
      this.clock.clearTimeout(this.#timer);
      this.#timer = null;
      this.#timerDue = Number.POSITIVE_INFINITY;
    }
  }

  /** The server is gone: no more checks. */
  dispose(): void {
    if (this.#timer !== null) this.clock.clearTimeout(this.#timer);
    this.#timer = null;
    this.#timerDue = Number.POSITIVE_INFINITY;
    for (const member of this.#heap) member.hbIndex = -1;
    this.#heap.length = 0;
  }

  /** Anything read from the peer proves it alive (the heap is fixed up lazily, at its check). */
  static alive(member: HeartbeatMember): void {
    member.hbUnanswered = 0;
  }

  readonly #tick = (): void => {
    this.#timer = null;
    this.#timerDue = Number.POSITIVE_INFINITY;
    const now = this.clock.now();
    for (let top = this.#heap[0]; top !== undefined && top.hbDue <= now; top = this.#heap[0]) {
      this.remove(top);
      this.#check(top, now);
    }
    this.#arm();
  };

  /** The same decision a per-client timer made when it fired. */
  #check(member: HeartbeatMember, now: number): void {
    const intervalMs = this.intervalMs as number;
    const lastRead = member.lastReadTime();
    if (now - lastRead < intervalMs && member.hbUnanswered === 0) {
      this.#push(member, lastRead + intervalMs);
    } else if (member.hbUnanswered >= this.maxUnanswered) {
      member.giveUp();
    } else {
      member.hbUnanswered++;
      this.#push(member, now + intervalMs);
      member.ping();
    }
  }

  #arm(): void {
    const top = this.#heap[0];
    if (top === undefined || top.hbDue >= this.#timerDue) return;
    if (this.#timer !== null) this.clock.clearTimeout(this.#timer);
    this.#timerDue = top.hbDue;
    this.#timer = this.clock.setTimeout(this.#tick, top.hbDue - this.clock.now());
  }

  #push(member: HeartbeatMember, due: number): void {
    member.hbDue = due;
    member.hbIndex = this.#heap.push(member) - 1;
    this.#siftUp(member.hbIndex);
  }

  /** Moves the entry at `index` up while it is due before its parent; returns where it ends. */
  #siftUp(index: number): number {
    const heap = this.#heap;
    const member = heap[index] as HeartbeatMember;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = heap[parentIndex] as HeartbeatMember;
      if (parent.hbDue <= member.hbDue) break;
      heap[index] = parent;
      parent.hbIndex = index;
      index = parentIndex;
    }
    heap[index] = member;
    member.hbIndex = index;
    return index;
  }

  #siftDown(index: number): void {
    const heap = this.#heap;
    const member = heap[index] as HeartbeatMember;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && (heap[right] as HeartbeatMember).hbDue < (heap[left] as HeartbeatMember).hbDue ? right : left;
      const next = heap[child] as HeartbeatMember;
      if (next.hbDue >= member.hbDue) break;
      heap[index] = next;
      next.hbIndex = index;
      index = child;
    }
    heap[index] = member;
    member.hbIndex = index;
  }
}
