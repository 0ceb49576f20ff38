/**
 * C3's bound holds for messages already read from the socket: one TCP write of thousands of
 * small frames never queues more than `maxQueuedMessages` (or `maxQueuedBytes`) for `onData`,
 * because the parser pauses too, and everything is still delivered in order.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Endpoint, Message, Websocket } from '../../src/index.js';
import { Opcode, frame, rawUpgrade, type RawClient } from '../helpers/raw-client.js';
import { startServer, waitFor, type StartedServer } from '../helpers/harness.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let running: StartedServer<unknown> | null = null;
const raws: RawClient[] = [];

afterEach(async () => {
  for (const raw of raws.splice(0)) raw.socket.destroy();
  await running?.server.stop();
  running = null;
});

/** An app whose onData records how many messages were read but not yet delivered. */
function backlogApp(onDataMs: number | null): { app: Websocket<unknown>; texts: string[]; maxBacklog: () => number; endpoint: () => Endpoint | null } {
  let endpoint: Endpoint | null = null;
  const texts: string[] = [];
  let maxBacklog = 0;
  const app: Websocket<unknown> = {
    onStart(e) {
      endpoint = e;
    },
    onData(clientId: number, message: Message) {
      const info = endpoint?.getLocalInfo(clientId);
      // messages_read counts parsed messages; this one is being delivered.
      if (info !== undefined) maxBacklog = Math.max(maxBacklog, info.messages_read - texts.length - 1);
      const record = async (): Promise<void> => void texts.push(await message.text());
      if (onDataMs === null) return record();
      return record().then(() => sleep(onDataMs));
    },
  };
  return { app, texts, maxBacklog: () => maxBacklog, endpoint: () => endpoint };
}

function manyFrames(count: number, size: number): Buffer {
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++) frames.push(frame({ opcode: Opcode.TEXT, payload: String(i).padStart(size, '0') }));
  return Buffer.concat(frames);
}

describe('inbound queue bound (C3)', () => {
  it('one socket read of 4,096 messages queues at most maxQueuedMessages', async () => {
    const { app, texts, maxBacklog } = backlogApp(null);
    running = await startServer(app, { maxQueuedMessages: 4 });
    const raw = await rawUpgrade(running.port);
    raws.push(raw);
    raw.send(manyFrames(4096, 10));
    await waitFor(() => texts.length === 4096, 20_000, 'all 4,096 messages');
    expect(texts.slice(0, 3)).toEqual(['0000000000', '0000000001', '0000000002']);
    expect(texts.every((text, i) => Number(text) === i)).toBe(true);
    expect(maxBacklog()).toBeLessThanOrEqual(4);
  }, 30_000);

  it('a synchronous onData that keeps up still gets everything, in order', async () => {
    let count = 0;
    let inOrder = true;
    const app: Websocket<unknown> = {
      // Returns nothing: the queue drains synchronously, from inside the parser's loop.
      onData(_id: number, message: Message) {
        const expected = count++;
        void message.buffer().then((data) => {
          if (Number(data.toString()) !== expected) inOrder = false;
        });
      },
    };
    running = await startServer(app, { maxQueuedMessages: 2 });
    const raw = await rawUpgrade(running.port);
    raws.push(raw);
    const frames: Buffer[] = [];
    for (let i = 0; i < 3000; i++) frames.push(frame({ opcode: Opcode.BINARY, payload: String(i) }));
    raw.send(Buffer.concat(frames));
    await waitFor(() => count === 3000, 10_000, 'all 3,000 messages');
    expect(inOrder).toBe(true);
  });

  it('maxQueuedBytes bounds the queue in bytes', async () => {
    const { app, texts, maxBacklog } = backlogApp(2);
    // 1000-byte messages, 3 KB of queue: at most 3 wait (the one that reaches the bound included).
    running = await startServer(app, { maxQueuedMessages: 1000, maxQueuedBytes: 3000 });
    const raw = await rawUpgrade(running.port);
    raws.push(raw);
    raw.send(manyFrames(300, 1000));
    await waitFor(() => texts.length === 300, 20_000, 'all 300 messages');
    expect(maxBacklog()).toBeLessThanOrEqual(3);
  });

  it('a peer that drops while the parser is held: what was read is delivered, then onClose 1006', async () => {
    const closes: number[] = [];
    const { app, texts } = backlogApp(2);
    app.onClose = (_id, code) => void closes.push(code);
    running = await startServer(app, { maxQueuedMessages: 2 });
    const raw = await rawUpgrade(running.port);
    raws.push(raw);
    raw.send(manyFrames(200, 10));
    await waitFor(() => texts.length > 0, 2000, 'first delivery');
    raw.socket.destroy();
    await waitFor(() => closes.length === 1, 10_000, 'onClose');
    expect(closes).toEqual([1006]);
    expect(texts.length).toBe(200);
  });

  it('server stop while the parser is held: the rest is dropped and counted, stop resolves', async () => {
    const { app, texts, endpoint } = backlogApp(20);
    let accounted: { read: number; dropped: number; delivered: number } | null = null;
    app.onClose = (id) => {
      const info = endpoint()?.getLocalInfo(id);
      if (info !== undefined) accounted = { read: info.messages_read, dropped: info.messages_dropped, delivered: texts.length };
    };
    running = await startServer(app, { maxQueuedMessages: 2, closePeriodMs: 300 });
    const raw = await rawUpgrade(running.port);
    raws.push(raw);
    raw.send(manyFrames(500, 10));
    await waitFor(() => texts.length > 2, 2000, 'some deliveries');
    await running.server.stop();
    expect(accounted).not.toBeNull();
    const { read, dropped, delivered } = accounted as unknown as { read: number; dropped: number; delivered: number };
    expect(delivered).toBeLessThan(500);
    // C4 accounting: every message read is delivered or counted as dropped.
    expect(delivered + dropped).toBe(read);
    expect(read).toBe(500);
  });
});
