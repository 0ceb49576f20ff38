/** A failed start() says why with a WsActorError code, and a throwing onStart reaches the logger. */
import { createServer as createNetServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, ErrorCodes, HookError, ListenError } from '../../src/index.js';
import { captureLogger } from '../helpers/harness.js';

const blockers: Server[] = [];

afterEach(async () => {
  for (const blocker of blockers.splice(0)) await new Promise((resolve) => blocker.close(resolve));
});

describe('errors on a failed start', () => {
  it('a throwing onStart rejects start() with HookError and is passed to the logger', async () => {
    const { logger, entries } = captureLogger();
    const boom = new Error('no database');
    const server = createServer({ onStart: () => Promise.reject(boom) }, { host: '127.0.0.1', logger });
    await expect(server.start()).rejects.toBeInstanceOf(HookError);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ level: 'error', message: 'onStart failed: no database', error: boom });
    await server.stop();
  });

  it('a busy port rejects start() with ListenError (WSA_ERR_LISTEN_FAILED, EADDRINUSE) and runs onStop', async () => {
    const blocker = createNetServer();
    blockers.push(blocker);
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as AddressInfo;
    let stops = 0;
    const { logger } = captureLogger();
    const server = createServer({ onStop: () => void stops++ }, { host: '127.0.0.1', port, logger });
    const error: unknown = await server.start().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ListenError);
    expect(error).toMatchObject({ code: ErrorCodes.LISTEN_FAILED, syscallCode: 'EADDRINUSE', port, host: '127.0.0.1' });
    expect((error as ListenError).message).toBe(`Cannot listen on 127.0.0.1 port ${port}: listen EADDRINUSE: address already in use 127.0.0.1:${port}`);
    expect(stops).toBe(1);
    expect(server.state).toBe('failed');
    await server.stop();
    await expect(server.start()).rejects.toThrow('Server failed to start; create a new one');
  });

  it('stop() called from onStart: start() resolves, then the server stops (onStop once, address() null)', async () => {
    const events: string[] = [];
    let stopping: Promise<void> = Promise.resolve();
    const server = createServer(
      {
        onStart: () => {
          events.push('onStart');
          stopping = server.stop();
        },
        onStop: () => void events.push('onStop'),
      },
      { host: '127.0.0.1', port: 0 },
    );
    await server.start();
    events.push('start resolved');
    await stopping;
    expect(events).toEqual(['onStart', 'start resolved', 'onStop']);
    expect(server.state).toBe('stopped');
    expect(server.address()).toBeNull();
  });
});
