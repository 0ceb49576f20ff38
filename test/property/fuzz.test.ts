/**
 * Wire fuzzing: after a valid raw handshake a client sends random bytes and random mutations
 * of valid masked frames (bit flips, truncation, splices), split into random writes, then
 * ends the connection in one of several ways. Whatever arrives, the process must not crash,
 * that client's hooks must run onOpen -> onData* -> onClose exactly once with nothing after,
 * and a normal client connected throughout must still get its echo.
 * Reproduce a failure with FC_SEED=<seed> (and FC_PATH=<path>) from its report; FC_RUNS=N
 * changes the number of runs.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Endpoint, Message, Websocket } from '../../src/index.js';
import { connect, startServer, waitFor, type LogEntry, type StartedServer, type TestClient } from '../helpers/harness.js';
import { closePayload, frame, Opcode, rawUpgrade, type FrameOptions } from '../helpers/raw-client.js';

const seed = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED);
const path = process.env.FC_PATH;
const runs = Number(process.env.FC_RUNS ?? 0);

/** Hook calls of one client, by `?tag=`, in order: `onOpen`, `onOpen:end`, `onData`, ... */
const traces = new Map<string, string[]>();
const tagOf = new Map<number, string>();
let endpoint: Endpoint | null = null;

function trace(id: number): string[] {
  const tag = tagOf.get(id) ?? `#${id}`;
  let entries = traces.get(tag);
  if (entries === undefined) traces.set(tag, (entries = []));
  return entries;
}

/** Records every hook start and end; echoes the witness, sometimes writes back to fuzzed clients. */
const app: Websocket<string> = {
  onStart(ep) {
    endpoint = ep;
  },
  onHandshake(request) {
    return request.query.get('tag') ?? '';
  },
  async onOpen(id, tag) {
    tagOf.set(id, tag);
    trace(id).push('onOpen');
    await Promise.resolve();
    trace(id).push('onOpen:end');
  },
  async onData(id, message: Message) {
    trace(id).push('onData');
    const data = await message.buffer();
    if (tagOf.get(id) === 'witness') await endpoint?.send(data.toString('utf8'), id);
    else if (data.length % 3 === 0) await endpoint?.sendBinary(data, id); // write back while the peer misbehaves
    trace(id).push('onData:end');
  },
  async onClose(id) {
    trace(id).push('onClose');
    await Promise.resolve();
    trace(id).push('onClose:end');
  },
};

let started: StartedServer<string>;
let logged: LogEntry[];
let witness: TestClient;
let runIndex = 0;

beforeAll(async () => {
  started = await startServer(app, { maxPayload: 64 * 1024, maxFrameSize: 16 * 1024, maxFragments: 16, closePeriodMs: 300 });
  logged = started.logged;
  witness = await connect(`${started.url}?tag=witness`);
});

afterAll(async () => {
  witness.ws.terminate();
  await started.server.stop();
});

/** What a well-formed (masked) frame may be before it is mutated. */
const validFrame: fc.Arbitrary<Buffer> = fc.oneof(
  fc.string({ maxLength: 40, unit: 'binary' }).map((text) => frame({ opcode: Opcode.TEXT, payload: text })),
  fc.uint8Array({ maxLength: 300 }).map((bytes) => frame({ opcode: Opcode.BINARY, payload: Buffer.from(bytes) })),
  // A text message split into fragments at random points, UTF-8 sequences included.
  fc
    .tuple(fc.string({ minLength: 1, maxLength: 30, unit: 'binary' }), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 3 }))
    .map(([text, fractions]) => {
      const bytes = Buffer.from(text, 'utf8');
      const bounds = [0, ...new Set(fractions.map((f) => Math.floor(f * bytes.length))), bytes.length].sort((a, b) => a - b);
      const parts = bounds.slice(1).map((end, k) => bytes.subarray(bounds[k], end));
      return Buffer.concat(
        parts.map((payload, k) => frame({ opcode: k === 0 ? Opcode.TEXT : Opcode.CONTINUATION, fin: k === parts.length - 1, payload })),
      );
    }),
  fc.uint8Array({ maxLength: 125 }).map((bytes) => frame({ opcode: Opcode.PING, payload: Buffer.from(bytes) })),
  fc.uint8Array({ maxLength: 125 }).map((bytes) => frame({ opcode: Opcode.PONG, payload: Buffer.from(bytes) })),
  fc
    .record({ code: fc.constantFrom(1000, 1001, 3000, 4999), reason: fc.string({ maxLength: 20 }) })
    .map(({ code, reason }) => frame({ opcode: Opcode.CLOSE, payload: closePayload(code, reason) })),
  fc
    .record({
      opcode: fc.constantFrom<number>(Opcode.TEXT, Opcode.BINARY),
      encoding: fc.constantFrom<FrameOptions['lengthEncoding']>(16, 64),
      size: fc.integer({ min: 0, max: 400 }),
    })
    .map(({ opcode, encoding, size }) => frame({ opcode, payload: Buffer.alloc(size, 0x61), lengthEncoding: encoding })),
);

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'splice'; at: number; remove: number; insert: Uint8Array };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({
    kind: fc.constant('splice' as const),
    at: fc.double({ min: 0, max: 1, noNaN: true }),
    remove: fc.integer({ min: 0, max: 8 }),
    insert: fc.uint8Array({ maxLength: 16 }),
  }),
);

function mutate(bytes: Buffer, m: Mutation): Buffer {
  const at = Math.min(bytes.length, Math.floor(m.at * bytes.length));
  switch (m.kind) {
    case 'flip': {
      if (bytes.length === 0) return bytes;
      const copy = Buffer.from(bytes);
      const index = Math.min(at, copy.length - 1);
      copy[index] = (copy[index] as number) ^ (1 << m.bit);
      return copy;
    }
    case 'truncate':
      return bytes.subarray(0, at);
    case 'splice':
      return Buffer.concat([bytes.subarray(0, at), Buffer.from(m.insert), bytes.subarray(at + m.remove)]);
  }
}

/** One piece of traffic: valid frames, possibly mutated, or plain random bytes. */
const piece: fc.Arbitrary<Buffer> = fc.oneof(
  { arbitrary: validFrame, weight: 3 },
  { arbitrary: fc.tuple(validFrame, fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([f, ms]) => ms.reduce(mutate, f)), weight: 4 },
  { arbitrary: fc.uint8Array({ minLength: 1, maxLength: 200 }).map((bytes) => Buffer.from(bytes)), weight: 1 },
);

interface FuzzCase {
  pieces: Buffer[];
  /** Cut points (fractions) splitting the stream into separate writes. */
  cuts: number[];
  gapMs: number;
  ending: 'end' | 'reset' | 'close-then-end' | 'wait-then-end';
}

const fuzzCase: fc.Arbitrary<FuzzCase> = fc.record({
  pieces: fc.array(piece, { minLength: 1, maxLength: 6 }),
  cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 3 }),
  gapMs: fc.constantFrom(0, 0, 1, 3),
  ending: fc.constantFrom('end' as const, 'reset' as const, 'close-then-end' as const, 'wait-then-end' as const),
});

function describeCase(c: FuzzCase): string {
  return JSON.stringify({ ...c, pieces: c.pieces.map((p) => p.toString('hex')) });
}

/** The hook order of one client: onOpen -> (onData onData:end)* -> onClose onClose:end. */
function checkTrace(trace: readonly string[] | undefined): string | null {
  if (trace === undefined) return 'no onOpen';
  const text = trace.join(' ');
  return /^onOpen onOpen:end( onData onData:end)* onClose onClose:end$/.test(text) ? null : `bad hook order: ${text}`;
}

async function runCase(c: FuzzCase): Promise<void> {
  const tag = `fuzz-${++runIndex}`;
  const client = await rawUpgrade(started.port, { path: `/?tag=${tag}` });
  await waitFor(() => traces.has(tag), 2000, `onOpen of ${tag}`);
  const stream = Buffer.concat(c.pieces);
  const points = [...new Set(c.cuts.map((f) => Math.floor(f * stream.length)))].sort((a, b) => a - b);
  let from = 0;
  for (const to of [...points, stream.length]) {
    if (to > from) client.send(stream.subarray(from, to));
    from = Math.max(from, to);
    if (c.gapMs > 0) await sleep(c.gapMs);
  }
  switch (c.ending) {
    case 'end':
      client.end();
      break;
    case 'reset':
      client.reset();
      break;
    case 'close-then-end':
      client.sendFrame({ opcode: Opcode.CLOSE, payload: closePayload(1000, 'fuzz done') });
      await client.waitClosed(150).catch(() => undefined);
      client.end();
      break;
    case 'wait-then-end':
      await client.waitClosed(100).catch(() => undefined);
      client.end();
      break;
  }
  await waitFor(() => traces.get(tag)?.includes('onClose:end') === true, 3000, `onClose of ${tag}`);
  client.destroy();
  const problem = checkTrace(traces.get(tag));
  expect(problem, describeCase(c)).toBeNull();
  // The normal client, connected throughout, still gets its echo.
  const ping = `witness ${runIndex}`;
  witness.ws.send(ping);
  expect((await witness.nextMessage()).data.toString('utf8')).toBe(ping);
  expect(started.server.state).toBe('running');
}

describe('wire fuzzing', () => {
  it('survives random bytes and mutated frames; hooks keep their order; others unaffected', async () => {
    await fc.assert(fc.asyncProperty(fuzzCase, runCase), {
      numRuns: runs > 0 ? runs : 100,
      ...(seed === undefined ? {} : { seed }),
      ...(path === undefined ? {} : { path }),
      endOnFailure: true,
      verbose: 1,
    });
    // Nothing ran for any fuzzed client after its onClose, also later on.
    await sleep(100);
    const bad = [...traces].filter(([tag]) => tag !== 'witness').flatMap(([tag, trace]) => {
      const problem = checkTrace(trace);
      return problem === null ? [] : [`${tag}: ${problem}`];
    });
    expect(bad).toEqual([]);
    expect(traces.get('witness')?.includes('onClose')).toBe(false);
    // A machine or runtime failure is logged as "actor failed"; protocol errors are not logged.
    expect(logged.filter((e) => /failed/.test(e.message)).map((e) => e.message)).toEqual([]);
  }, 60_000);
});
