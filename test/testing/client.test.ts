/**
 * The typed test client of `wsactor/testing`, by example against a real server: connect with
 * path, query, headers and subprotocols; send text and binary; typed nextMessage; expectClose;
 * close with a code or an empty frame; drop; rejections and timeouts.
 */
import { createServer as createNetServer } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createServer, type Endpoint, type HandshakeRequest, type HandshakeResponse, type Message, type Websocket, type WsActorServer } from '../../src/index.js';
import { connect, HandshakeRejectedError, type ReceivedMessage, type TestClient } from '../../src/testing/index.js';

interface Welcome {
  type: 'welcome';
  path: string;
  room: string | null;
  user: string | null;
}

class Probe implements Websocket<Omit<Welcome, 'type'>> {
  readonly closes: { code: number; reason: string }[] = [];
  #endpoint: Endpoint | null = null;

  onStart(endpoint: Endpoint): void {
    this.#endpoint = endpoint;
  }

  onHandshake(request: HandshakeRequest, response: HandshakeResponse): Omit<Welcome, 'type'> {
    if (request.query.get('token') !== 'ok') response.reject(401, 'bad token');
    if (request.subprotocols.includes('v2')) response.setSubprotocol('v2');
    response.setHeader('x-probe', 'yes');
    const user = request.headers['x-user'];
    return { path: request.path, room: request.query.get('room'), user: typeof user === 'string' ? user : null };
  }

  async onOpen(clientId: number, data: Omit<Welcome, 'type'>): Promise<void> {
    await this.#endpoint?.send(JSON.stringify({ type: 'welcome', ...data }), clientId);
  }

  async onData(clientId: number, message: Message): Promise<void> {
    const endpoint = this.#endpoint as Endpoint;
    if (message.isBinary) {
      await endpoint.sendBinary(Buffer.from(await message.buffer()).reverse(), clientId);
      return;
    }
    const text = await message.text();
    if (text === 'close-me') await endpoint.close(clientId, 4001, 'asked');
    else if (text !== 'quiet') await endpoint.send(JSON.stringify({ echo: text }), clientId);
  }

  onClose(_clientId: number, code: number, reason: string): void {
    this.closes.push({ code, reason });
  }
}

let app: Probe;
let server: WsActorServer<Omit<Welcome, 'type'>>;
const open: TestClient[] = [];
const ok = { query: { token: 'ok' } };

async function client(options: Parameters<typeof connect>[1] = ok): Promise<TestClient> {
  const c = await connect(server, options);
  open.push(c);
  return c;
}

async function waitForCloses(n: number): Promise<void> {
  const deadline = Date.now() + 2000;
  while (app.closes.length < n && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
}

beforeEach(async () => {
  app = new Probe();
  server = createServer(app, { host: '127.0.0.1', port: 0, logger: { error: () => undefined, warn: () => undefined } });
  await server.start();
});

afterEach(async () => {
  for (const c of open.splice(0)) c.drop();
  await server.stop();
});

describe('wsactor/testing connect() and TestClient', () => {
  it('connects to a server with path, query, headers and subprotocols, and decodes messages with a typed decoder', async () => {
    const c = await client({ path: '/rooms', query: { token: 'ok', room: 'a' }, headers: { 'x-user': 'ann' }, protocols: ['v1', 'v2'] });
    expect(c.protocol).toBe('v2');
    expect(c.headers['x-probe']).toBe('yes');
    expect(c.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/rooms\?token=ok&room=a$/);
    const welcome = await c.nextMessage({ decode: (m): Welcome => JSON.parse(m.text) as Welcome });
    expect(welcome).toEqual({ type: 'welcome', path: '/rooms', room: 'a', user: 'ann' });
  });

  it('connects to a URL, adding the query options to the URL query', async () => {
    const port = server.address()?.port ?? 0;
    const c = await connect(`ws://127.0.0.1:${port}/x?room=b`, ok);
    open.push(c);
    expect((await c.nextMessage({ decode: (m) => JSON.parse(m.text) as Welcome })).room).toBe('b');
  });

  it('sends text and binary; received keeps every message in order', async () => {
    const c = await client();
    c.send('hello');
    c.sendBinary(new Uint8Array([1, 2, 3]));
    const [welcome, echo, bytes] = [await c.nextMessage(), await c.nextMessage({ decode: (m) => JSON.parse(m.text) as { echo: string } }), await c.nextMessage()];
    expect(welcome.isBinary).toBe(false);
    expect(echo).toEqual({ echo: 'hello' });
    expect(bytes.isBinary).toBe(true);
    expect([...bytes.data]).toEqual([3, 2, 1]);
    expect(c.received.map((m: ReceivedMessage) => m.isBinary)).toEqual([false, false, true]);
  });

  it('nextMessage rejects after its timeout without consuming, and a decoder that throws rejects', async () => {
    const c = await client();
    await c.nextMessage();
    c.send('quiet');
    await expect(c.nextMessage({ timeoutMs: 50 })).rejects.toThrow('nextMessage(): no message #2 within 50 ms');
    c.send('again');
    await expect(c.nextMessage({ decode: () => { throw new Error('bad shape'); } })).rejects.toThrow('bad shape');
    c.send('third');
    expect((await c.nextMessage()).text).toBe('{"echo":"third"}');
  });

  it('a rejected upgrade rejects with HandshakeRejectedError (status, body, headers)', async () => {
    const error = await connect(server, { query: { token: 'no' } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HandshakeRejectedError);
    expect(error).toMatchObject({ status: 401, body: 'bad token', message: 'handshake rejected with 401: bad token' });
    expect((error as HandshakeRejectedError).headers['x-probe']).toBe('yes');
  });

  it('expectClose resolves the code and reason the server closed with, and rejects on another code', async () => {
    const c = await client();
    c.send('close-me');
    await expect(c.expectClose(4001)).resolves.toEqual({ code: 4001, reason: 'asked' });
    await expect(c.expectClose(1000)).rejects.toThrow('expectClose(1000): closed with 4001 "asked"');
    expect(c.isOpen).toBe(false);
    expect(() => c.send('late')).toThrow('send(): the connection is not open (closed with 4001 "asked")');
  });

  it('nextMessage rejects when the connection closes before a message arrives', async () => {
    const c = await client();
    await c.nextMessage();
    c.send('close-me');
    await expect(c.nextMessage({ timeoutMs: 2000 })).rejects.toThrow('nextMessage(): the connection closed (4001 "asked") before message #2 arrived');
  });

  it('close(code, reason) reaches onClose; close() sends an empty close frame (1005)', async () => {
    const a = await client();
    const b = await client();
    await expect(a.close(4100, 'bye')).resolves.toEqual({ code: 4100, reason: 'bye' });
    await expect(b.close()).resolves.toEqual({ code: 1005, reason: '' });
    await waitForCloses(2);
    expect(app.closes).toEqual([
      { code: 4100, reason: 'bye' },
      { code: 1005, reason: '' },
    ]);
  });

  it('drop() destroys the TCP connection: the server sees 1006', async () => {
    const c = await client();
    c.drop();
    await expect(c.closed).resolves.toEqual({ code: 1006, reason: '' });
    await waitForCloses(1);
    expect(app.closes).toEqual([{ code: 1006, reason: '' }]);
  });

  it('rejects with the socket error when nothing listens, and when the server has no address', async () => {
    const probe = createNetServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const address = probe.address();
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    await expect(connect(`ws://127.0.0.1:${port}/`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    const idle = createServer(new Probe());
    await expect(connect(idle)).rejects.toThrow('connect(): the server has no TCP address (not started, or stopped)');
  });
});
