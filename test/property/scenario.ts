/**
 * Generated lifecycle scenarios for the property tests: what each client does on the wire,
 * how the app's hooks behave for it, and when the server stops.
 */
import fc from 'fast-check';

export type Ending =
  | { kind: 'close'; code: number; reason: string }
  | { kind: 'emptyClose' }
  | { kind: 'drop' }
  | { kind: 'silent' };

export type Failure =
  | { hook: 'none' }
  | { hook: 'onHandshake' }
  | { hook: 'onOpen' }
  | { hook: 'onData'; at: number }
  | { hook: 'onClose' };

export interface PlannedMessage {
  binary: boolean;
  size: number;
}

export interface ClientPlan {
  startDelayMs: number;
  messages: PlannedMessage[];
  gapMs: number;
  endDelayMs: number;
  ending: Ending;
  handshakeDelayMs: number;
  openDelayMs: number;
  dataDelayMs: number;
  closeDelayMs: number;
  failure: Failure;
  /** Index of the onData call that makes the app call `endpoint.close`, or null. */
  appCloseAt: number | null;
  reject: boolean;
}

export interface Scenario {
  startDelayMs: number;
  stopDelayMs: number;
  /** Milliseconds after the clients start at which `server.stop()` is called; null: only at the end. */
  stopAtMs: number | null;
  /** Connect one more client right after the early stop; it must never open. */
  lateClient: boolean;
  concurrency: number;
  clients: ClientPlan[];
}

// 1001 is left out so that a 1001 in onClose can only come from server.stop().
const peerCloseCode = fc.oneof(fc.constantFrom(1000, 1002, 1003, 1007, 1008, 1011), fc.integer({ min: 3000, max: 4999 }));

const ending: fc.Arbitrary<Ending> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('close' as const), code: peerCloseCode, reason: fc.string({ maxLength: 20 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'emptyClose' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'drop' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'silent' as const }) },
);

const failure: fc.Arbitrary<Failure> = fc.oneof(
  { weight: 10, arbitrary: fc.constant({ hook: 'none' as const }) },
  { weight: 1, arbitrary: fc.constant({ hook: 'onHandshake' as const }) },
  { weight: 1, arbitrary: fc.constant({ hook: 'onOpen' as const }) },
  { weight: 2, arbitrary: fc.record({ hook: fc.constant('onData' as const), at: fc.nat({ max: 6 }) }) },
  { weight: 1, arbitrary: fc.constant({ hook: 'onClose' as const }) },
);

const message: fc.Arbitrary<PlannedMessage> = fc.record({
  binary: fc.boolean(),
  size: fc.oneof(
    { weight: 12, arbitrary: fc.nat({ max: 2000 }) },
    { weight: 1, arbitrary: fc.integer({ min: 60_000, max: 200_000 }) },
  ),
});

const clientPlan: fc.Arbitrary<ClientPlan> = fc.record({
  startDelayMs: fc.nat({ max: 10 }),
  messages: fc.array(message, { maxLength: 8 }),
  gapMs: fc.nat({ max: 3 }),
  endDelayMs: fc.nat({ max: 10 }),
  ending,
  handshakeDelayMs: fc.nat({ max: 5 }),
  openDelayMs: fc.nat({ max: 15 }),
  dataDelayMs: fc.nat({ max: 4 }),
  closeDelayMs: fc.nat({ max: 5 }),
  failure,
  appCloseAt: fc.option(fc.nat({ max: 6 }), { freq: 6 }),
  reject: fc.integer({ min: 0, max: 11 }).map((r) => r === 0),
});

export function scenarioArbitrary(options: { concurrency?: fc.Arbitrary<number> } = {}): fc.Arbitrary<Scenario> {
  return fc.record({
    startDelayMs: fc.nat({ max: 15 }),
    stopDelayMs: fc.nat({ max: 10 }),
    stopAtMs: fc.option(fc.nat({ max: 40 }), { freq: 3 }),
    lateClient: fc.boolean(),
    concurrency: options.concurrency ?? fc.constant(1),
    clients: fc.array(clientPlan, { minLength: 1, maxLength: 4 }),
  });
}

/** Payload of message `j` of client `i`: an id prefix, then filler up to `size` bytes. */
export function payloadFor(i: number, j: number, planned: PlannedMessage): string | Buffer {
  const id = `${i}:${j}:`;
  const filler = Math.max(0, planned.size - id.length);
  if (!planned.binary) return id + 'é'.repeat(Math.floor(filler / 2)) + 'x'.repeat(filler % 2);
  const buf = Buffer.alloc(id.length + filler, (i * 31 + j) & 0xff);
  buf.write(id, 0, 'latin1');
  return buf;
}

/** Recovers `i:j` and checks the filler is intact; returns null when it is corrupt. */
export function parsePayload(data: Buffer, binary: boolean): string | null {
  const text = binary ? data.toString('latin1') : data.toString('utf8');
  const match = /^(\d+):(\d+):/.exec(text);
  if (match === null) return null;
  const [, i, j] = match;
  const rest = binary ? data.subarray(match[0].length) : Buffer.from(text.slice(match[0].length), 'utf8');
  if (binary) {
    const expected = (Number(i) * 31 + Number(j)) & 0xff;
    if (!rest.every((b) => b === expected)) return null;
  } else if (!/^(é)*x?$/.test(rest.toString('utf8'))) {
    return null;
  }
  return `${i}:${j}`;
}
