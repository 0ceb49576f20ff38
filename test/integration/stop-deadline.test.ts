/**
 * `stop()` has a deadline (`stopTimeoutMs`): clients still live then are cut and counted, and
 * `stop()` resolves. A hook that awaits `server.stop()` (waiting for itself) no longer hangs.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Endpoint, type Message, type Websocket, type WsActorServer } from '../../src/index.js';
import { captureLogger, closed, connect, startServer, waitFor, type StartedServer } from '../helpers/harness.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let running: StartedServer<unknown> | null = null;

afterEach(async () => {
  await running?.server.stop();
  running = null;
});

describe('stop() deadline', () => {
  it('await server.stop() inside onData: clients get 1001, stop resolves at the deadline, then onClose runs', async () => {
    const events: string[] = [];
    let server: WsActorServer<unknown> | null = null;
    const app: Websocket<unknown> = {
      async onData(clientId: number, message: Message) {
        if ((await message.text()) !== 'shutdown') return;
        events.push('stop called');
        await server?.stop();
        events.push('stop resolved in onData');
      },
      onClose(clientId: number, code: number) {
        events.push(`onClose ${code}`);
      },
    };
    running = await startServer(app, { stopTimeoutMs: 300 });
    server = running.server;
    const client = await connect(running.url);
    const other = await connect(running.url);
    const started = Date.now();
    client.ws.send('shutdown');
    expect((await closed(client)).code).toBe(1001);
    expect((await closed(other)).code).toBe(1001);
    await waitFor(() => events.includes('onClose 1001') && events.length === 4, 3000, 'both onClose');
    expect(Date.now() - started).toBeLessThan(2000);
    expect(events).toEqual(['stop called', 'onClose 1001', 'stop resolved in onData', 'onClose 1001']);
    expect(running.server.state).toBe('stopped');
    expect(running.server.stats.stopCut).toBe(1);
    const warning = running.logged.find((entry) => entry.level === 'warn' && entry.message.includes('stopTimeoutMs'));
    expect(warning?.message).toContain('waiting for onData');
    expect(warning?.message).toContain('void server.stop()');
  });

  it('a slow onData: at the deadline its queue is dropped and counted; stop resolves; onClose follows', async () => {
    let endpoint: Endpoint | null = null;
    let release: () => void = () => undefined;
    const delivered: string[] = [];
    let atClose: { read: number; dropped: number } | null = null;
    const app: Websocket<unknown> = {
      onStart(e) {
        endpoint = e;
      },
      async onData(_id: number, message: Message) {
        delivered.push(await message.text());
        await new Promise<void>((resolve) => (release = resolve));
      },
      onClose(clientId: number) {
        const info = endpoint?.getLocalInfo(clientId);
        if (info !== undefined) atClose = { read: info.messages_read, dropped: info.messages_dropped };
      },
    };
    running = await startServer(app, { stopTimeoutMs: 200 });
    const client = await connect(running.url);
    for (const text of ['a', 'b', 'c']) client.ws.send(text);
    await waitFor(() => delivered.length === 1, 2000, 'first onData');
    await sleep(50);
    const started = Date.now();
    await running.server.stop();
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(180);
    expect(took).toBeLessThan(1500);
    expect(running.server.stats.stopCut).toBe(1);
    expect(atClose).toBeNull();
    release();
    await waitFor(() => atClose !== null, 2000, 'onClose after the hook settled');
    expect(atClose).toEqual({ read: 3, dropped: 2 });
    expect(delivered).toEqual(['a']);
  });

  it('stopTimeoutMs: null waits for every hook', async () => {
    let settled = false;
    const app: Websocket<unknown> = {
      async onData() {
        await sleep(400);
        settled = true;
      },
    };
    running = await startServer(app, { stopTimeoutMs: null, closePeriodMs: 100 });
    const client = await connect(running.url);
    client.ws.send('x');
    await sleep(50);
    await running.server.stop();
    expect(settled).toBe(true);
    expect(running.server.stats.stopCut).toBe(0);
  });
});

describe('stop() and handshakes in flight', () => {
  it('an onHandshake still running when stop() is called: its own answer stands (500 if it threw), an accepted one gets 503', async () => {
    const app: Websocket<unknown> = {
      async onHandshake(request) {
        await sleep(150);
        if (request.query.get('throw') !== null) throw new Error('auth backend down');
      },
    };
    running = await startServer(app);
    const statusOf = (url: string): Promise<number | undefined> =>
      connect(url).then(
        () => 101,
        (error: unknown) => (error as { status?: number }).status,
      );
    const thrown = statusOf(`${running.url}?throw=1`);
    const accepted = statusOf(running.url);
    await sleep(30);
    await running.server.stop();
    expect(await thrown).toBe(500);
    expect(await accepted).toBe(503);
  });

  it('a handshake that never settles is answered 503 when stopTimeoutMs cuts it; the warning has no await hint', async () => {
    const app: Websocket<unknown> = { onHandshake: () => new Promise(() => undefined) };
    running = await startServer(app, { stopTimeoutMs: 200 });
    const status = connect(running.url).then(
      () => 101,
      (error: unknown) => (error as { status?: number }).status,
    );
    await sleep(30);
    await running.server.stop();
    expect(await status).toBe(503);
    expect(running.server.stats.stopCut).toBe(1);
    const warning = running.logged.find((entry) => entry.level === 'warn');
    expect(warning?.message).toContain('1 waiting for onHandshake');
    expect(warning?.message).not.toContain('awaits server.stop()');
  });

  it.each([
    ['never settles', (): Promise<void> => new Promise(() => undefined)],
    ['awaits server.stop()', null],
  ] as const)('an onStop that %s: the deadline covers it; clients get 1001, onClose runs, stop resolves', async (_name, hang) => {
    const events: string[] = [];
    let server: WsActorServer<unknown> | null = null;
    const app: Websocket<unknown> = {
      async onStop() {
        events.push('onStop');
        await (hang === null ? server?.stop() : hang());
      },
      onClose(_clientId: number, code: number) {
        events.push(`onClose ${code}`);
      },
    };
    running = await startServer(app, { stopTimeoutMs: 300 });
    server = running.server;
    const client = await connect(running.url);
    const started = Date.now();
    await running.server.stop();
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(280);
    expect(took).toBeLessThan(1500);
    expect(running.server.state).toBe('stopped');
    expect((await closed(client)).code).toBe(1001);
    await waitFor(() => events.includes('onClose 1001'), 2000, 'onClose');
    expect(events).toEqual(['onStop', 'onClose 1001']);
    const warning = running.logged.find((entry) => entry.level === 'warn' && entry.message.includes('onStop did not settle'));
    expect(warning?.message).toContain('void server.stop()');
  });

  it('an onStop that outlives the deadline with no client left: one warning, not a second one about 0 clients', async () => {
    running = await startServer({ onStop: () => new Promise(() => undefined) }, { stopTimeoutMs: 200 });
    await running.server.stop();
    const warnings = running.logged.filter((entry) => entry.level === 'warn').map((entry) => entry.message);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('onStop did not settle');
  });

  it('a client still in onOpen when the deadline cuts it is reported as waiting for onOpen', async () => {
    let server: WsActorServer<unknown> | null = null;
    const app: Websocket<unknown> = {
      async onOpen() {
        await server?.stop();
      },
    };
    running = await startServer(app, { stopTimeoutMs: 200 });
    server = running.server;
    const client = await connect(running.url);
    expect((await closed(client)).code).toBe(1001);
    await waitFor(() => running?.server.state === 'stopped', 3000, 'stopped');
    const warning = running.logged.find((entry) => entry.level === 'warn' && entry.message.includes('passed with'));
    expect(warning?.message).toContain('1 waiting for onOpen');
  });

  it('an onStart that awaits server.stop() waits for itself (S1): a warning says so at stopTimeoutMs', async () => {
    const { logger, entries } = captureLogger();
    const server: WsActorServer<unknown> = createServer(
      {
        async onStart() {
          await server.stop();
        },
      },
      { host: '127.0.0.1', port: 0, stopTimeoutMs: 200, logger },
    );
    void server.start();
    await waitFor(() => entries.length > 0, 2000, 'the warning');
    expect(entries[0]?.level).toBe('warn');
    expect(entries[0]?.message).toContain('start() has not finished within stopTimeoutMs (200 ms)');
    expect(entries[0]?.message).toContain('void server.stop()');
    expect(server.state).toBe('starting');
  });
});

