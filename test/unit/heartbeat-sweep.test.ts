/**
 * The one-timer heartbeat sweep (a heap of due times) must ping and give up at exactly the moments a timer per
 * client would. Property: random adds, removes, reads and clock advances give the same
 * per-client event times as a naive reference with one timer each.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Clock } from '../../src/runtime/clock.js';
import { HeartbeatSweep, type HeartbeatMember } from '../../src/runtime/heartbeat.js';

const INTERVAL = 1000;
const MAX_UNANSWERED = 2;
const CLIENTS = 10;

/** Timers fire in due order (ties: creation order) as time advances. */
class FakeClock implements Clock {
  time = 0;
  #seq = 0;
  #timers = new Map<number, { due: number; seq: number; fn: () => void }>();
  now = (): number => this.time;
  setTimeout = (fn: () => void, ms: number): unknown => {
    const id = ++this.#seq;
    this.#timers.set(id, { due: this.time + Math.max(0, ms), seq: id, fn });
    return id;
  };
  clearTimeout = (handle: unknown): void => void this.#timers.delete(handle as number);
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let next: [number, { due: number; seq: number; fn: () => void }] | null = null;
      for (const entry of this.#timers) {
        if (entry[1].due <= end && (next === null || entry[1].due < next[1].due || (entry[1].due === next[1].due && entry[1].seq < next[1].seq))) next = entry;
      }
      if (next === null) break;
      this.#timers.delete(next[0]);
      this.time = Math.max(this.time, next[1].due);
      next[1].fn();
    }
    this.time = end;
  }
}

type Log = string[][];

/** The behaviour a timer per client had, written plainly. */
class Reference {
  readonly log: Log = Array.from({ length: CLIENTS }, () => []);
  readonly #timers = new Map<number, unknown>();
  readonly #unanswered = new Array<number>(CLIENTS).fill(0);
  constructor(
    readonly clock: FakeClock,
    readonly lastRead: number[],
  ) {}
  add(k: number): void {
    if (this.#timers.has(k)) return;
    this.#unanswered[k] = 0;
    this.#schedule(k, INTERVAL);
  }
  remove(k: number): void {
    this.clock.clearTimeout(this.#timers.get(k));
    this.#timers.delete(k);
  }
  read(k: number): void {
    this.#unanswered[k] = 0;
  }
  #schedule(k: number, ms: number): void {
    this.#timers.set(k, this.clock.setTimeout(() => this.#check(k), ms));
  }
  #check(k: number): void {
    const now = this.clock.now();
    const silence = now - (this.lastRead[k] ?? 0);
    if (silence < INTERVAL && this.#unanswered[k] === 0) this.#schedule(k, INTERVAL - silence);
    else if ((this.#unanswered[k] ?? 0) >= MAX_UNANSWERED) {
      this.#timers.delete(k);
      this.log[k]?.push(`give-up@${now}`);
    } else {
      this.#unanswered[k] = (this.#unanswered[k] ?? 0) + 1;
      this.#schedule(k, INTERVAL);
      this.log[k]?.push(`ping@${now}`);
    }
  }
}

type Op = { kind: 'advance'; ms: number } | { kind: 'add' | 'remove' | 'read'; client: number };

const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 1500 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('read' as const), client: fc.nat(CLIENTS - 1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('add' as const), client: fc.nat(CLIENTS - 1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('remove' as const), client: fc.nat(CLIENTS - 1) }) },
);

function run(ops: readonly Op[]): { sweep: Log; reference: Log } {
  const sweepClock = new FakeClock();
  const refClock = new FakeClock();
  const lastRead = new Array<number>(CLIENTS).fill(0);
  const refLastRead = new Array<number>(CLIENTS).fill(0);
  const log: Log = Array.from({ length: CLIENTS }, () => []);
  const sweep = new HeartbeatSweep(sweepClock, INTERVAL, MAX_UNANSWERED);
  const members: HeartbeatMember[] = Array.from({ length: CLIENTS }, (_, k) => {
    const member: HeartbeatMember = {
      hbIndex: -1,
      hbDue: -1,
      hbUnanswered: 0,
      lastReadTime: () => lastRead[k] ?? 0,
      ping: () => void log[k]?.push(`ping@${sweepClock.now()}`),
      giveUp: () => {
        log[k]?.push(`give-up@${sweepClock.now()}`);
        sweep.remove(member);
      },
    };
    return member;
  });
  const reference = new Reference(refClock, refLastRead);
  for (const op of ops) {
    if (op.kind === 'advance') {
      sweepClock.advance(op.ms);
      refClock.advance(op.ms);
      continue;
    }
    const member = members[op.client] as HeartbeatMember;
    if (op.kind === 'add') {
      // A removed (or given-up) client comes back as new: read "now", like a fresh connection.
      if (member.hbIndex < 0) lastRead[op.client] = refLastRead[op.client] = sweepClock.now();
      sweep.add(member);
      reference.add(op.client);
    } else if (op.kind === 'remove') {
      sweep.remove(member);
      reference.remove(op.client);
    } else {
      lastRead[op.client] = refLastRead[op.client] = sweepClock.now();
      HeartbeatSweep.alive(member);
      reference.read(op.client);
    }
  }
  return { sweep: log, reference: reference.log };
}

describe('heartbeat sweep', () => {
  it('pings and gives up exactly when a timer per client would (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 400 }), { minLength: CLIENTS, maxLength: CLIENTS }), fc.array(opArbitrary, { minLength: 1, maxLength: 200 }), (gaps, rest) => {
        // Every client joins first, at staggered times, so the list is long and unevenly spaced.
        const ops: Op[] = gaps.flatMap((ms, client): Op[] => [{ kind: 'add', client }, { kind: 'advance', ms }]);
        ops.push(...rest);
        const { sweep, reference } = run(ops);
        expect(sweep).toEqual(reference);
      }),
      { numRuns: 300, verbose: 1 },
    );
  });

  it('an idle client answering every ping is pinged once per interval', () => {
    const ops: Op[] = [{ kind: 'add', client: 0 }];
    for (let i = 0; i < 5; i++) ops.push({ kind: 'advance', ms: 1000 }, { kind: 'advance', ms: 5 }, { kind: 'read', client: 0 });
    const { sweep } = run(ops);
    expect(sweep[0]).toEqual(['ping@1000', 'ping@2005', 'ping@3010', 'ping@4015', 'ping@5020']);
  });
});
