/**
 * Frames against a real server: `for await (const chunk of message)` yields a message frame by
 * frame, text as binary (README, "API"), and `frames_read` / `frames_sent` count every frame,
 * close frames included, each exactly once, whichever side began the close.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Endpoint, HandshakeRequest, Message, Websocket } from '../../src/index.js';
import type { ClientInfo } from '../../src/index.js';
import { closed, connect, startServer, waitFor, type StartedServer } from '../helpers/harness.js';
import { closePayload, frame, Opcode, Rsv, rawUpgrade, type RawClient } from '../helpers/raw-client.js';

interface Seen {
  readonly isBinary: boolean;
  readonly size: number;
  /** What `for await` yielded, copied. */
  readonly chunks: Buffer[];
  readonly whole: Buffer;
  readonly text: string | null;
}

interface Closed {
  readonly code: number;
  readonly info: ClientInfo | undefined;
}

/** Records, per `?tag=`, what `onData` saw of each message and what `getInfo` said in `onClose`. */
class FrameRecorder implements Websocket<string> {
  endpoint: Endpoint | null = null;
  readonly ids = new Map<string, number>();
  readonly seen = new Map<number, Seen[]>();
  readonly closes = new Map<number, Closed>();

  onStart(endpoint: Endpoint): void {
    this.endpoint = endpoint;
  }

  onHandshake(request: HandshakeRequest): string {
    return request.query.get('tag') ?? '';
  }

  onOpen(clientId: number, tag: string): void {
    this.ids.set(tag, clientId);
    this.seen.set(clientId, []);
  }

  async onData(clientId: number, message: Message): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of message) chunks.push(Buffer.from(chunk));
    const whole = Buffer.from(await message.buffer());
    const text = message.isBinary ? null : await message.text();
    this.seen.get(clientId)?.push({ isBinary: message.isBinary, size: message.size, chunks, whole, text });
  }

  async onClose(clientId: number, code: number): Promise<void> {
    // Still listed until onClose returns: the counters as they end.
    this.closes.set(clientId, { code, info: await this.endpoint?.getInfo(clientId) });
  }
}

const app = new FrameRecorder();
/** The same, on a server that offers permessage-deflate (one app per server: one endpoint each). */
const deflateApp = new FrameRecorder();
let started: StartedServer<string>;
let deflating: StartedServer<string>;
let tags = 0;

beforeAll(async () => {
  started = await startServer(app, { closePeriodMs: 500 });
  deflating = await startServer(deflateApp, { closePeriodMs: 500, perMessageDeflate: { threshold: 1 } });
});

afterAll(async () => {
  await started.server.stop();
  await deflating.server.stop();
});

const data = (opcode: number, payload: Buffer | string, fin = true): Buffer => frame({ opcode, payload, fin });
const cont = (payload: Buffer | string, fin = true): Buffer => data(Opcode.CONTINUATION, payload, fin);
const bytes = (...values: number[]): Buffer => Buffer.from(values);

/** A raw client on a fresh tag, once its onOpen ran. */
async function open(name: string): Promise<{ raw: RawClient; id: number }> {
  const tag = `${name}-${++tags}`;
  const raw = await rawUpgrade(started.port, { path: `/?tag=${encodeURIComponent(tag)}` });
  await waitFor(() => app.ids.has(tag), 2000, `onOpen of ${tag}`);
  return { raw, id: app.ids.get(tag) as number };
}

async function messages(id: number, count: number): Promise<Seen[]> {
  await waitFor(() => (app.seen.get(id)?.length ?? 0) >= count, 2000, `${count} message(s) of client ${id}`);
  return app.seen.get(id) ?? [];
}

async function closeOf(id: number): Promise<Closed> {
  await waitFor(() => app.closes.has(id), 3000, `onClose of client ${id}`);
  return app.closes.get(id) as Closed;
}

function closeFramesIn(raw: RawClient): number {
  return raw.frames.filter((f) => f.opcode === Opcode.CLOSE).length;
}

// ws joins a text message's frames into one buffer to validate it; LimitedWebSocket hands them
// over again as views of that buffer (limited-websocket.ts, the receiver's `dataMessage`).
describe('for await (const chunk of message): frame by frame', () => {
  it('a text message in three frames yields three chunks, a code point split across two of them', async () => {
    const { raw, id } = await open('text-3');
    // "a€b": € is E2 82 AC, split after its first and second byte.
    raw.send(data(Opcode.TEXT, bytes(0x61, 0xe2), false), cont(bytes(0x82), false), cont(bytes(0xac, 0x62)));
    const [seen] = await messages(id, 1);
    expect(seen?.chunks).toEqual([bytes(0x61, 0xe2), bytes(0x82), bytes(0xac, 0x62)]);
    expect(seen).toMatchObject({ isBinary: false, size: 5, text: 'a€b', whole: Buffer.from('a€b') });
    expect(app.endpoint?.getLocalInfo(id)).toMatchObject({ messages_read: 1, frames_read: 3 });
    raw.destroy();
  });

  it('a binary message in three frames yields three chunks', async () => {
    const { raw, id } = await open('binary-3');
    raw.send(data(Opcode.BINARY, bytes(1, 2), false), cont(bytes(3), false), cont(bytes(4, 5, 6)));
    const [seen] = await messages(id, 1);
    expect(seen?.chunks).toEqual([bytes(1, 2), bytes(3), bytes(4, 5, 6)]);
    expect(seen).toMatchObject({ isBinary: true, size: 6, text: null, whole: bytes(1, 2, 3, 4, 5, 6) });
    expect(app.endpoint?.getLocalInfo(id)).toMatchObject({ messages_read: 1, frames_read: 3 });
    raw.destroy();
  });

  it('one-frame messages yield one chunk each; text and binary messages in frames follow each other', async () => {
    const { raw, id } = await open('mixed');
    raw.send(
      data(Opcode.TEXT, 'one'),
      data(Opcode.TEXT, 'tw', false),
      cont('o'),
      data(Opcode.BINARY, bytes(7)),
      data(Opcode.TEXT, 'three'),
    );
    const seen = await messages(id, 4);
    expect(seen.map((m) => m.chunks.map((c) => c.toString('utf8')))).toEqual([['one'], ['tw', 'o'], ['\u0007'], ['three']]);
    expect(seen.map((m) => m.text)).toEqual(['one', 'two', null, 'three']);
    raw.destroy();
  });

  it('still refuses invalid UTF-8 split across frames (1007), before onData', async () => {
    const { raw, id } = await open('bad-utf8');
    // E2 82 starts a 3-byte sequence that 28 cannot continue.
    raw.send(data(Opcode.TEXT, bytes(0x61, 0xe2), false), cont(bytes(0x82), false), cont(bytes(0x28)));
    expect(await raw.closeFrame()).toMatchObject({ code: 1007 });
    expect((await closeOf(id)).code).toBe(1007);
    expect(app.seen.get(id)).toEqual([]);
    raw.destroy();
  });

  it('with permessage-deflate, a text message in three compressed frames yields three chunks', async () => {
    const tag = `deflate-${++tags}`;
    const client = await connect(`ws://127.0.0.1:${deflating.port}/?tag=${tag}`, { perMessageDeflate: { threshold: 0 } });
    expect(client.ws.extensions).toContain('permessage-deflate');
    await waitFor(() => deflateApp.ids.has(tag), 2000, `onOpen of ${tag}`);
    const id = deflateApp.ids.get(tag) as number;
    client.ws.send('first ', { fin: false, compress: true });
    client.ws.send('second ', { fin: false, compress: true });
    client.ws.send('third', { fin: true, compress: true });
    await waitFor(() => deflateApp.seen.get(id)?.length === 1, 2000, 'the compressed message');
    const [seen] = deflateApp.seen.get(id) ?? [];
    expect(seen?.chunks.map((c) => c.toString('utf8'))).toEqual(['first ', 'second ', 'third']);
    expect(seen?.text).toBe('first second third');
    client.ws.close();
    await closed(client);
  });
});

describe('frames_read and frames_sent count close frames once', () => {
  it('the peer closes: its close frame is read once and the answer ws sends is sent once', async () => {
    const { raw, id } = await open('peer-closes');
    raw.send(data(Opcode.TEXT, 'hi'));
    await messages(id, 1);
    expect(await app.endpoint?.send('hello', id)).toEqual({ ok: true });
    raw.send(data(Opcode.CLOSE, closePayload(4001, 'done')));
    expect(await raw.closeFrame()).toEqual({ code: 4001, reason: 'done' });
    await raw.waitClosed();
    const { code, info } = await closeOf(id);
    expect(code).toBe(4001);
    expect(info).toMatchObject({ frames_read: 2, frames_sent: 2, messages_read: 1, messages_sent: 1 });
    expect(closeFramesIn(raw)).toBe(1);
  });

  it('the peer closes with an empty close frame (1005): counted the same', async () => {
    const { raw, id } = await open('peer-closes-empty');
    raw.send(data(Opcode.CLOSE, Buffer.alloc(0)));
    expect(await raw.closeFrame()).toEqual({ code: 1005, reason: '' });
    await raw.waitClosed();
    const { code, info } = await closeOf(id);
    expect(code).toBe(1005);
    expect(info).toMatchObject({ frames_read: 1, frames_sent: 1 });
    expect(closeFramesIn(raw)).toBe(1);
  });

  it('the server closes and the peer answers: each close frame is counted once', async () => {
    const { raw, id } = await open('server-closes');
    raw.send(data(Opcode.BINARY, bytes(1), false), cont(bytes(2)));
    await messages(id, 1);
    expect(await app.endpoint?.close(id, 4002, 'bye')).toMatchObject({ ok: true });
    expect(await raw.closeFrame()).toEqual({ code: 4002, reason: 'bye' });
    raw.send(data(Opcode.CLOSE, closePayload(4002, 'bye')));
    await raw.waitClosed();
    const { code, info } = await closeOf(id);
    expect(code).toBe(4002);
    expect(info).toMatchObject({ frames_read: 3, frames_sent: 1, messages_read: 1 });
    expect(closeFramesIn(raw)).toBe(1);
  });

  it('the server closes and the peer drops the connection: only the server close frame counts', async () => {
    const { raw, id } = await open('server-closes-unanswered');
    expect(await app.endpoint?.close(id, 4003)).toMatchObject({ ok: true });
    expect(await raw.closeFrame()).toEqual({ code: 4003, reason: '' });
    raw.destroy();
    const { info } = await closeOf(id);
    expect(info).toMatchObject({ frames_read: 0, frames_sent: 1 });
  });

  it('both close at once: one close frame each way, each counted once', async () => {
    const { raw, id } = await open('both-close');
    // Our close goes out before the server reads the peer's, which is then no answer to it.
    raw.send(data(Opcode.CLOSE, closePayload(4004, 'peer')));
    expect(await app.endpoint?.close(id, 4005, 'server')).toMatchObject({ ok: true });
    expect(await raw.closeFrame()).toEqual({ code: 4005, reason: 'server' });
    await raw.waitClosed();
    const { info } = await closeOf(id);
    expect(info).toMatchObject({ frames_read: 1, frames_sent: 1 });
    expect(closeFramesIn(raw)).toBe(1);
  });

  it('a protocol error: the close frame ws sends by itself is counted once, the bad frame is not read', async () => {
    const { raw, id } = await open('protocol-error');
    raw.send(data(Opcode.TEXT, 'ok'));
    await messages(id, 1);
    raw.sendFrame({ opcode: Opcode.BINARY, payload: 'bad', rsv: Rsv.RSV2 });
    expect(await raw.closeFrame()).toMatchObject({ code: 1002 });
    // The server reads nothing after the bad frame, this answer included.
    raw.send(data(Opcode.CLOSE, closePayload(1002)));
    await raw.waitClosed();
    const { code, info } = await closeOf(id);
    expect(code).toBe(1002);
    expect(info).toMatchObject({ frames_read: 1, frames_sent: 1 });
    expect(closeFramesIn(raw)).toBe(1);
  });
});
