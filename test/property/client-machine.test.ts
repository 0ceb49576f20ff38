/**
 * Properties of per-client machines (docs/lifecycle.md M1–M6) on real sockets: random message
 * sequences, gaps (some long enough to hibernate), busy states, unexpected and undecodable
 * messages under each policy, final states, throwing actions, peer closes, drops and server
 * stops. What the real machine handled is compared with a model: the same machine driven
 * directly, event by event, with the same policy. Reproduce with FC_SEED / FC_PATH.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { fromPromise, setup, type AnyMachineSnapshot } from 'xstate';
import { clientMachine, clientOf, createServer, type ClientCloseEvent, type ClientMachineInput, type UnexpectedPolicy, type Websocket } from '../../src/index.js';
import { captureLogger } from '../helpers/harness.js';

const seed = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED);
const path = process.env.FC_PATH;
const runs = Number(process.env.FC_RUNS ?? 0);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

type Ev = { type: 'join' } | { type: 'inc' } | { type: 'slow'; ms: number } | { type: 'quit' } | { type: 'boom' } | ClientCloseEvent;

/** Every event the machine handles is written to `trace` (of its client): the observable order. */
const trace = new Map<number, string[]>();
const log = (id: number, entry: string): void => void (trace.get(id) ?? trace.set(id, []).get(id))?.push(entry);

const machine = setup({
  types: { context: {} as { id: number; n: number }, events: {} as Ev, input: {} as ClientMachineInput },
  actors: { wait: fromPromise<void, number>(({ input }) => sleep(input)) },
}).createMachine({
  context: ({ input }) => ({ id: input.clientId, n: 0 }),
  initial: 'lobby',
  // Tells the client its id (the first message it gets).
  entry: ({ self }) => void clientOf(self).send(`id ${clientOf(self).id}`),
  on: { 'wsactor.close': { actions: ({ context, event }) => log(context.id, `close ${event.code}`) } },
  states: {
    lobby: { on: { join: { target: 'room', actions: ({ context }) => log(context.id, 'join') } } },
    room: {
      on: {
        inc: { actions: [({ context }) => log(context.id, `inc ${context.n}`), ({ context }) => void (context.n += 1), ({ self }) => void clientOf(self).send('ok')] },
        slow: { target: 'working', actions: ({ context }) => log(context.id, 'slow') },
        quit: { target: 'done', actions: ({ context }) => log(context.id, 'quit') },
        boom: {
          actions: ({ context }) => {
            log(context.id, 'boom');
            throw new Error('boom');
          },
        },
      },
    },
    working: { tags: ['busy'], invoke: { src: 'wait', input: ({ event }) => (event as { ms: number }).ms, onDone: 'room' } },
    done: { type: 'final' },
  },
  output: { code: 4000, reason: 'quit' },
});

type Sent = { kind: 'event'; event: Ev } | { kind: 'garbage' };

const sentArb: fc.Arbitrary<Sent> = fc.oneof(
  { weight: 3, arbitrary: fc.constant<Sent>({ kind: 'event', event: { type: 'inc' } }) },
  { weight: 2, arbitrary: fc.constant<Sent>({ kind: 'event', event: { type: 'join' } }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 40 }).map<Sent>((ms) => ({ kind: 'event', event: { type: 'slow', ms } })) },
  { weight: 1, arbitrary: fc.constant<Sent>({ kind: 'event', event: { type: 'quit' } }) },
  { weight: 1, arbitrary: fc.constant<Sent>({ kind: 'event', event: { type: 'boom' } }) },
  { weight: 1, arbitrary: fc.constant<Sent>({ kind: 'garbage' }) },
);

const clientArb = fc.record({
  messages: fc.array(fc.record({ sent: sentArb, gapMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 15 }), fc.constant(300)) }), { maxLength: 8 }),
  ending: fc.constantFrom('close', 'drop', 'silent'),
});
const scenarioArb = fc.record({ policy: fc.constantFrom<UnexpectedPolicy>('ignore', 'error', 'close'), clients: fc.array(clientArb, { minLength: 1, maxLength: 3 }) });
type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

type End = 'open' | 'done' | 'error' | 'refused';

/**
 * What the machine must have handled and how the client ends: the machine's rules written out
 * by hand (an oracle independent of XState and the runtime). A busy `working` always ends
 * before the next message (M3), so it is back in `room` for it.
 */
function model(messages: readonly Sent[], policy: UnexpectedPolicy): { entries: string[]; end: End } {
  const entries: string[] = [];
  let state: 'lobby' | 'room' = 'lobby';
  let n = 0;
  for (const sent of messages) {
    const type = sent.kind === 'event' ? sent.event.type : null;
    const accepted = type === 'join' ? state === 'lobby' : type !== null && state === 'room';
    if (!accepted) {
      if (policy === 'close') return { entries, end: 'refused' };
      continue;
    }
    if (type === 'join') state = 'room';
    if (type === 'inc') entries.push(`inc ${n++}`);
    else entries.push(type as string);
    if (type === 'quit') return { entries, end: 'done' };
    if (type === 'boom') return { entries, end: 'error' };
  }
  return { entries, end: 'open' };
}

async function run(scenario: Scenario): Promise<void> {
  const stopped: { id: number; snapshot: AnyMachineSnapshot | undefined; traceAt: number }[] = [];
  const app: Websocket<unknown> = {
    onClose: (id, _code, _reason, snapshot) => void stopped.push({ id, snapshot, traceAt: (trace.get(id) ?? []).length }),
    clientMachine: clientMachine(machine, { unexpected: scenario.policy }),
  };
  const { logger } = captureLogger();
  const server = createServer(app, { host: '127.0.0.1', port: 0, logger, closePeriodMs: 200 });
  await server.start();
  const port = server.address()?.port ?? 0;
  const outcomes = await Promise.all(
    scenario.clients.map(async (plan) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
      ws.on('error', () => undefined);
      const closeCode = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
      const id = await new Promise<number>((resolve) => ws.once('message', (data: Buffer) => resolve(Number(data.toString().slice(3)))));
      for (const { sent, gapMs } of plan.messages) {
        if (ws.readyState !== WebSocket.OPEN) break;
        ws.send(sent.kind === 'garbage' ? '{not json' : JSON.stringify(sent.event));
        if (gapMs > 0) await sleep(gapMs);
      }
      await sleep(60);
      if (plan.ending === 'close' && ws.readyState === WebSocket.OPEN) ws.close(4100);
      if (plan.ending === 'drop') ws.terminate();
      return { id, plan, closeCode };
    }),
  );
  await sleep(50);
  await server.stop();
  for (const { id, plan, closeCode } of outcomes) {
    const expected = model(plan.messages.map((m) => m.sent), scenario.policy);
    const real = trace.get(id) ?? [];
    const code = await closeCode;
    const closes = real.filter((entry) => entry.startsWith('close'));
    const handled = real.filter((entry) => !entry.startsWith('close'));
    // M1/M3: in send order, one at a time, busy states deferring: exactly the model's trace.
    expect(handled, `client ${id}`).toEqual(expected.entries);
    // M4: at most one close event, the last thing the machine handled; none after done/error.
    expect(closes.length).toBeLessThanOrEqual(1);
    if (closes.length === 1) expect(real.at(-1)).toBe(closes[0]);
    if (expected.end === 'done' || expected.end === 'error') expect(closes).toEqual([]);
    else expect(closes).toHaveLength(1);
    // M4: stopped once, before onClose: nothing handled after onClose ran.
    const stops = stopped.filter((s) => s.id === id);
    expect(stops).toHaveLength(1);
    expect(stops[0]?.traceAt).toBe(real.length);
    // M5/M6 and the policy: how the client was closed.
    if (expected.end === 'done') expect(code).toBe(4000);
    if (expected.end === 'error') expect(code).toBe(1011);
    if (expected.end === 'refused') expect(code).toBe(1008);
    trace.delete(id);
  }
}

describe('client machines on real sockets', () => {
  it('handle exactly the model\'s events, in order, and end as the model says', async () => {
    await fc.assert(fc.asyncProperty(scenarioArb, run), {
      numRuns: runs > 0 ? runs : 25,
      ...(seed === undefined ? {} : { seed }),
      ...(path === undefined ? {} : { path }),
      endOnFailure: true,
      verbose: 1,
    });
  }, 180_000);
});
