/**
 * C3: a slow app pushes back on TCP. While onData is blocked, the server stops reading, so
 * messages pile up in the client's socket buffers rather than in server memory.
 */
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createServer, type Endpoint, type Message, type WsActorServer } from '../../src/index.js';

const silent = { error: () => undefined, warn: () => undefined };

describe('inbound backpressure', () => {
  let server: WsActorServer | null = null;
  afterEach(async () => {
    await server?.stop();
    server = null;
  });

  it('pauses reading while onData lags and delivers everything in order afterwards', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const received: number[] = [];
    let endpoint: Endpoint | null = null;
    server = createServer(
      {
        onStart: (ep) => {
          endpoint = ep;
        },
        onData: async (_id: number, message: Message) => {
          received.push((await message.buffer()).readUInt32BE(0));
          await gate;
        },
      },
      { host: '127.0.0.1', maxQueuedMessages: 8, logger: silent },
    );
    await server.start();
    const client = new WebSocket(`ws://127.0.0.1:${server.address()?.port}`);
    client.on('error', () => undefined);
    await once(client, 'open');
    const total = 2000;
    const payload = Buffer.alloc(16 * 1024);
    for (let k = 0; k < total; k++) {
      const buf = Buffer.from(payload);
      buf.writeUInt32BE(k, 0);
      client.send(buf);
    }
    await sleep(300);
    const id = (endpoint as Endpoint | null)?.getLocalClients()[0] as number;
    const read = (endpoint as Endpoint | null)?.getLocalInfo(id)?.messages_read ?? -1;
    // 32 MB were sent; with reading paused the server holds a bounded handful of messages.
    expect(received).toEqual([0]);
    expect(read).toBeGreaterThan(0);
    expect(read).toBeLessThan(200);
    expect(client.bufferedAmount).toBeGreaterThan(0);
    release();
    const deadline = Date.now() + 15_000;
    while (received.length < total && Date.now() < deadline) await sleep(20);
    expect(received).toEqual(Array.from({ length: total }, (_, k) => k));
    client.close();
  });
});
