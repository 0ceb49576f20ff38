/**
 * Hooks that settle after their connection was already answered (handshake timeout, stop):
 * the late result is ignored, nothing is thrown, the process and the server go on.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HandshakeRejected, connect, startServer, type StartedServer } from '../helpers/harness.js';
import type { Websocket } from '../../src/index.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
let running: StartedServer<unknown> | null = null;

beforeEach(() => {
  unhandled = [];
  process.on('unhandledRejection', onUnhandled);
});

afterEach(async () => {
  process.off('unhandledRejection', onUnhandled);
  await running?.server.stop();
  running = null;
});

async function rejectedStatus(url: string): Promise<number> {
  try {
    const client = await connect(url);
    client.ws.terminate();
    return 101;
  } catch (error) {
    if (error instanceof HandshakeRejected) return error.status;
    throw error;
  }
}

describe('a hook that settles after its handshake was answered', () => {
  const cases: [string, (ms: number) => Promise<unknown>][] = [
    ['resolves', (ms) => sleep(ms)],
    ['throws', (ms) => sleep(ms).then(() => Promise.reject(new Error('late failure')))],
    ['rejects the handshake', (ms) => sleep(ms)],
  ];
  for (const [name, hook] of cases) {
    it(`${name} after handshakeTimeoutMs: 503, then ignored`, async () => {
      let settled = 0;
      const app: Websocket<unknown> = {
        async onHandshake(request, response) {
          if (request.query.get('slow') === null) return;
          try {
            await hook(300);
            if (name === 'rejects the handshake') response.reject(403);
          } finally {
            settled++;
          }
        },
      };
      running = await startServer(app, { handshakeTimeoutMs: 100 });
      expect(await rejectedStatus(`${running.url}?slow=1`)).toBe(503);
      await sleep(400);
      expect(settled).toBe(1);
      expect(unhandled).toEqual([]);
      // The server still serves.
      expect(await rejectedStatus(running.url)).toBe(101);
      expect(running.server.state).toBe('running');
    });
  }

  it('still running when stop() is called: 503 at the timeout, stop resolves, the late settle is ignored', async () => {
    let settled = false;
    const app: Websocket<unknown> = {
      async onHandshake() {
        await sleep(400);
        settled = true;
      },
    };
    running = await startServer(app, { handshakeTimeoutMs: 150 });
    const status = rejectedStatus(running.url);
    await sleep(30);
    await running.server.stop();
    expect(await status).toBe(503);
    expect(settled).toBe(false);
    await sleep(450);
    expect(settled).toBe(true);
    expect(unhandled).toEqual([]);
  });
});
