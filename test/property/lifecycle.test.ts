/**
 * Property tests of the lifecycle contract (docs/lifecycle.md) against real sockets on
 * 127.0.0.1, through the same kit users get (`wsactor/testing`): its generator, runner and
 * checks, with the test app's planned outcomes as extra invariants. A failure prints the seed
 * and path; replay with FC_SEED=<seed> FC_PATH=<path> (FC_RUNS=N changes the count).
 */
import { createServer as createNetServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createServer } from '../../src/index.js';
import { checkApp, connect, HandshakeRejectedError, type CheckAppOptions, type TestClient } from '../../src/testing/index.js';
import { appInvariants, connectPlans, LifecycleApp, messages, plannedFailure } from './lifecycle-app.js';

const scenarios: CheckAppOptions<LifecycleApp> = {
  app: () => new LifecycleApp(),
  messages,
  connect: connectPlans,
  server: { closePeriodMs: 300 },
  invariants: appInvariants,
  allowHookError: plannedFailure,
  maxClients: 4,
  maxSteps: 40,
  sessions: true,
};

describe('lifecycle contract on real sockets', () => {
  it('holds C1-C5 and S1-S3 for generated scenarios (one onData at a time)', async () => {
    await checkApp({ ...scenarios, numRuns: 200 });
  }, 240_000);

  it('keeps order and bounds overlap with the opt-in per-client concurrency', async () => {
    await checkApp({ ...scenarios, numRuns: 40, concurrency: fc.integer({ min: 2, max: 4 }) });
  }, 120_000);

  // The kit listens on port 0, so its clients connect only once start() resolved; here they
  // know the port beforehand and knock while onStart runs.
  it('S1: nothing listens before onStart settled, for clients that connect while it runs', async () => {
    const silent = { error: () => undefined, warn: () => undefined };
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 15 }), fc.array(fc.nat({ max: 10 }), { minLength: 1, maxLength: 4 }), async (startMs, connectAt) => {
        const events: string[] = [];
        const port = await freePort();
        const server = createServer(
          {
            onStart: async () => {
              await sleep(startMs);
              events.push('onStart settled');
            },
            onHandshake: () => void events.push('onHandshake'),
          },
          { host: '127.0.0.1', port, logger: silent },
        );
        const started = server.start();
        const clients = connectAt.map(async (ms) => {
          await sleep(ms);
          return knock(`ws://127.0.0.1:${port}/`);
        });
        await started;
        const opened = await Promise.all(clients);
        for (const client of opened) client.drop();
        await server.stop();
        expect(events).toEqual(['onStart settled', ...connectAt.map(() => 'onHandshake')]);
      }),
      { numRuns: 30 },
    );
  }, 60_000);
});

async function freePort(): Promise<number> {
  const probe = createNetServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Connects, retrying while nothing listens (a 503 or any other answer fails the test). */
async function knock(url: string): Promise<TestClient> {
  const deadline = Date.now() + 3000;
  for (;;) {
    try {
      return await connect(url, { timeoutMs: 3000 });
    } catch (error) {
      if (error instanceof HandshakeRejectedError || (error as NodeJS.ErrnoException).code !== 'ECONNREFUSED' || Date.now() > deadline) throw error;
      await sleep(2);
    }
  }
}
