/**
 * Hooks that settle at random times, before and after every timeout and around `stop()`,
 * never crash the process and never leave an unhandled rejection. Reproduce a failure with
 * FC_SEED=<seed> (and FC_PATH=<path>) from its report.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createServer, type Websocket } from '../../src/index.js';
import { captureLogger } from '../helpers/harness.js';

const seed = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED);
const path = process.env.FC_PATH;
const runs = Number(process.env.FC_RUNS ?? 0);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** How one hook call behaves: settles after `delay` ms, by resolving or throwing. */
const hookArb = fc.record({ delay: fc.integer({ min: 0, max: 250 }), throws: fc.boolean() });

const scenarioArb = fc.record({
  handshakeTimeoutMs: fc.integer({ min: 20, max: 150 }),
  closePeriodMs: fc.integer({ min: 20, max: 150 }),
  onHandshake: hookArb,
  onOpen: hookArb,
  onData: hookArb,
  onClose: hookArb,
  onStop: hookArb,
  clients: fc.array(
    fc.record({
      connectAfter: fc.integer({ min: 0, max: 200 }),
      messages: fc.integer({ min: 0, max: 3 }),
      end: fc.constantFrom('close', 'terminate', 'silent'),
      endAfter: fc.integer({ min: 0, max: 200 }),
    }),
    { minLength: 1, maxLength: 4 },
  ),
  stopAfter: fc.integer({ min: 0, max: 400 }),
});

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

let unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
beforeAll(() => process.on('unhandledRejection', onUnhandled));
afterAll(() => process.off('unhandledRejection', onUnhandled));

async function run(scenario: Scenario): Promise<void> {
  unhandled = [];
  let pending = 0;
  const hook = async ({ delay, throws }: { delay: number; throws: boolean }): Promise<void> => {
    pending++;
    try {
      await sleep(delay);
      if (throws) throw new Error('hook failed on purpose');
    } finally {
      pending--;
    }
  };
  const app: Websocket<unknown> = {
    onHandshake: () => hook(scenario.onHandshake),
    onOpen: () => hook(scenario.onOpen),
    onData: () => hook(scenario.onData),
    onClose: () => hook(scenario.onClose),
    onStop: () => hook(scenario.onStop),
  };
  const { logger } = captureLogger();
  const server = createServer(app, {
    host: '127.0.0.1',
    port: 0,
    logger,
    handshakeTimeoutMs: scenario.handshakeTimeoutMs,
    closePeriodMs: scenario.closePeriodMs,
  });
  await server.start();
  const port = server.address()?.port ?? 0;
  const sockets: WebSocket[] = [];
  const clientRuns = scenario.clients.map(async (plan) => {
    await sleep(plan.connectAfter);
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    sockets.push(ws);
    ws.on('error', () => undefined);
    const opened = await new Promise<boolean>((resolve) => {
      ws.once('open', () => resolve(true));
      ws.once('close', () => resolve(false));
      ws.once('unexpected-response', (req) => {
        req.destroy();
        resolve(false);
      });
    });
    if (!opened) return;
    for (let i = 0; i < plan.messages; i++) ws.send(`m${i}`);
    await sleep(plan.endAfter);
    if (plan.end === 'close') ws.close(1000);
    else if (plan.end === 'terminate') ws.terminate();
  });
  await sleep(scenario.stopAfter);
  await server.stop();
  await Promise.all(clientRuns);
  for (const ws of sockets) ws.terminate();
  // Every hook still running settles (the longest delay is 250 ms), then a few ticks more.
  const deadline = Date.now() + 2000;
  while (pending > 0 && Date.now() < deadline) await sleep(10);
  await sleep(20);
  expect(pending).toBe(0);
  expect(server.state).toBe('stopped');
  expect(unhandled.map(String)).toEqual([]);
}

describe('hooks settling at random times', () => {
  it('never crash the process or leave an unhandled rejection', async () => {
    await fc.assert(fc.asyncProperty(scenarioArb, run), {
      numRuns: runs > 0 ? runs : 30,
      ...(seed === undefined ? {} : { seed }),
      ...(path === undefined ? {} : { path }),
      endOnFailure: true,
      verbose: 1,
    });
  }, 120_000);
});
