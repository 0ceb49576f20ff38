/**
 * The opening handshake over the wire: a real server on 127.0.0.1, hand-written HTTP requests
 * on raw `node:net` sockets (and a `ws` client for subprotocol negotiation).
 */
import { createHash } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createServer, type HandshakeRequest, type HandshakeResponse, type Websocket } from '../../src/index.js';
import type { WsActorServer } from '../../src/runtime/server.js';
import type { Logger } from '../../src/runtime/logger.js';

const RFC_KEY = 'x3JJHMbDL1EzLkh9GBhXDw==';
const RFC_ACCEPT = 'HSmrc0sMlYUkAGmm5OPpG2HaGWk=';

interface Recorder {
  handshakes: HandshakeRequest[];
  opens: { clientId: number; data: unknown }[];
  closes: { clientId: number; code: number; reason: string }[];
  errors: string[];
}

interface HttpReply {
  status: number;
  statusLine: string;
  /** Lower-cased names; repeated headers keep every value. */
  headers: Map<string, string[]>;
  body: string;
  socket: Socket;
}

let server: WsActorServer<unknown> | null = null;
const sockets = new Set<Socket>();
const clients = new Set<WebSocket>();

afterEach(async () => {
  for (const client of clients) client.terminate();
  clients.clear();
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  const running = server;
  server = null;
  if (running !== null) await running.stop();
});

function recorder(): Recorder {
  return { handshakes: [], opens: [], closes: [], errors: [] };
}

/** Starts a server whose hooks record into `rec`; `onHandshake` defaults to returning nothing. */
async function start(
  rec: Recorder,
  onHandshake?: (req: HandshakeRequest, res: HandshakeResponse) => unknown,
  options: { path?: string } = {},
): Promise<number> {
  const logger: Logger = {
    error: (message) => rec.errors.push(message),
    warn: () => undefined,
  };
  const app: Websocket<unknown> = {
    onHandshake(req, res) {
      rec.handshakes.push(req);
      return onHandshake?.(req, res);
    },
    onOpen(clientId, data) {
      rec.opens.push({ clientId, data });
    },
    onClose(clientId, code, reason) {
      rec.closes.push({ clientId, code, reason });
    },
  };
  server = createServer(app, { port: 0, host: '127.0.0.1', logger, closePeriodMs: 200, ...options });
  await server.start();
  const address = server.address();
  if (address === null) throw new Error('server has no address');
  return address.port;
}

function upgradeRequest(path = '/', extra: string[] = [], key = RFC_KEY): string {
  return [
    `GET ${path} HTTP/1.1`,
    'Host: 127.0.0.1',
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${key}`,
    'Sec-WebSocket-Version: 13',
    ...extra,
  ].join('\r\n');
}

/** Sends `head` (a request without the final blank line) and `body`; resolves with the parsed reply. */
function send(port: number, head: string, body = ''): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    sockets.add(socket);
    let buffer = Buffer.alloc(0);
    let done = false;
    const finish = (reply: HttpReply | Error): void => {
      if (done) return;
      done = true;
      if (reply instanceof Error) reject(reply);
      else resolve(reply);
    };
    const parse = (ended: boolean): void => {
      const end = buffer.indexOf('\r\n\r\n');
      if (end < 0) {
        if (ended) finish(new Error(`connection ended before a complete response: ${JSON.stringify(buffer.toString('latin1'))}`));
        return;
      }
      const [statusLine = '', ...lines] = buffer.subarray(0, end).toString('latin1').split('\r\n');
      const headers = new Map<string, string[]>();
      for (const line of lines) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).trim().toLowerCase();
        headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
      }
      const status = Number(statusLine.split(' ')[1]);
      const rest = buffer.subarray(end + 4);
      const length = headers.get('content-length')?.[0];
      if (status === 101) {
        finish({ status, statusLine, headers, body: '', socket });
      } else if (headers.get('transfer-encoding')?.[0]?.toLowerCase() === 'chunked') {
        const decoded = dechunk(rest);
        if (decoded !== null) finish({ status, statusLine, headers, body: decoded, socket });
        else if (ended) finish(new Error('connection ended inside a chunked body'));
      } else if (length !== undefined && rest.length >= Number(length)) {
        finish({ status, statusLine, headers, body: rest.subarray(0, Number(length)).toString('utf8'), socket });
      } else if (ended) {
        finish({ status, statusLine, headers, body: rest.toString('utf8'), socket });
      }
    };
    socket.on('error', (error) => finish(error));
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      parse(false);
    });
    socket.on('end', () => parse(true));
    socket.on('close', () => parse(true));
    socket.write(`${head}\r\n\r\n${body}`);
  });
}

/** Decodes a complete chunked body, or returns null while it is incomplete. */
function dechunk(data: Buffer): string | null {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', at);
    if (lineEnd < 0) return null;
    const size = parseInt(data.subarray(at, lineEnd).toString('latin1'), 16);
    if (Number.isNaN(size)) throw new Error('bad chunk size');
    if (size === 0) return Buffer.concat(parts).toString('utf8');
    const start = lineEnd + 2;
    if (data.length < start + size + 2) return null;
    parts.push(data.subarray(start, start + size));
    at = start + size + 2;
  }
}

function header(reply: HttpReply, name: string): string | undefined {
  const values = reply.headers.get(name.toLowerCase());
  return values === undefined ? undefined : values.join(', ');
}

/** Resolves once `check` holds, polling on the event loop (bounded). */
async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Lets pending I/O and hooks run, so "was not called" assertions mean something. */
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 30));

describe('handshake over the wire', () => {
  it('answers the RFC 6455 sample key with the sample accept value', async () => {
    const rec = recorder();
    const port = await start(rec);
    const reply = await send(port, upgradeRequest());
    expect(reply.statusLine).toMatch(/^HTTP\/1\.1 101 /);
    expect(header(reply, 'sec-websocket-accept')).toBe(RFC_ACCEPT);
    expect(header(reply, 'upgrade')?.toLowerCase()).toBe('websocket');
    expect(header(reply, 'connection')?.toLowerCase()).toBe('upgrade');
    // No subprotocol was offered, so none is chosen.
    expect(header(reply, 'sec-websocket-protocol')).toBeUndefined();
    expect(rec.handshakes).toHaveLength(1);
    await until(() => rec.opens.length === 1, 'onOpen');
  });

  it('computes the accept value for any key', async () => {
    const rec = recorder();
    const port = await start(rec);
    const key = 'AQIDBAUGBwgJCgsMDQ4PEA==';
    const expected = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    const reply = await send(port, upgradeRequest('/', [], key));
    expect(reply.status).toBe(101);
    expect(header(reply, 'sec-websocket-accept')).toBe(expected);
  });

  describe('requests failing the RFC checks get their status and never reach onHandshake', () => {
    const key = `Sec-WebSocket-Key: ${RFC_KEY}`;
    const cases: [string, string, string, number, RegExp, Record<string, string>][] = [
      [
        'POST',
        ['POST / HTTP/1.1', 'Host: x', 'Upgrade: websocket', 'Connection: Upgrade', key, 'Sec-WebSocket-Version: 13', 'Content-Length: 0'].join('\r\n'),
        '',
        405,
        /Method Not Allowed/,
        { allow: 'GET' },
      ],
      [
        'HTTP/1.0',
        ['GET / HTTP/1.0', 'Host: x', 'Upgrade: websocket', 'Connection: Upgrade', key, 'Sec-WebSocket-Version: 13'].join('\r\n'),
        '',
        505,
        /HTTP Version Not Supported/,
        {},
      ],
      [
        'a request body',
        upgradeRequest('/', ['Content-Length: 5']),
        'hello',
        400,
        /no body/,
        {},
      ],
      [
        'a chunked request body',
        upgradeRequest('/', ['Transfer-Encoding: chunked']),
        '5\r\nhello\r\n0\r\n\r\n',
        400,
        /no body/,
        {},
      ],
      [
        'no Upgrade header',
        ['GET / HTTP/1.1', 'Host: x', 'Connection: Upgrade', key, 'Sec-WebSocket-Version: 13'].join('\r\n'),
        '',
        426,
        /"Upgrade: websocket" header missing/,
        { upgrade: 'websocket' },
      ],
      [
        'no Connection: Upgrade',
        ['GET / HTTP/1.1', 'Host: x', 'Upgrade: websocket', 'Connection: keep-alive', key, 'Sec-WebSocket-Version: 13'].join('\r\n'),
        '',
        426,
        /"Connection: Upgrade" header missing/,
        { upgrade: 'websocket' },
      ],
      [
        'no Sec-WebSocket-Key',
        ['GET / HTTP/1.1', 'Host: x', 'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Version: 13'].join('\r\n'),
        '',
        400,
        /Sec-WebSocket-Key/,
        {},
      ],
      [
        'an invalid Sec-WebSocket-Key',
        upgradeRequest('/', [], 'not-a-key'),
        '',
        400,
        /Sec-WebSocket-Key/,
        {},
      ],
      [
        'Sec-WebSocket-Version: 8',
        ['GET / HTTP/1.1', 'Host: x', 'Upgrade: websocket', 'Connection: Upgrade', key, 'Sec-WebSocket-Version: 8'].join('\r\n'),
        '',
        400,
        /Sec-WebSocket-Version/,
        { 'sec-websocket-version': '13' },
      ],
      [
        'a plain HTTP GET',
        ['GET / HTTP/1.1', 'Host: x', 'Connection: close'].join('\r\n'),
        '',
        426,
        /Upgrade/,
        { upgrade: 'websocket' },
      ],
    ];

    it.each(cases)('%s', async (_name, head, body, status, bodyPattern, headers) => {
      const rec = recorder();
      const port = await start(rec);
      const reply = await send(port, head, body);
      expect(reply.status).toBe(status);
      expect(reply.body).toMatch(bodyPattern);
      for (const [name, value] of Object.entries(headers)) expect(header(reply, name)).toBe(value);
      expect(header(reply, 'sec-websocket-accept')).toBeUndefined();
      await settle();
      expect(rec.handshakes).toHaveLength(0);
      expect(rec.opens).toHaveLength(0);
      expect(rec.closes).toHaveLength(0);
    });
  });

  it('accepts "Connection: keep-alive, Upgrade"', async () => {
    const rec = recorder();
    const port = await start(rec);
    const head = ['GET / HTTP/1.1', 'Host: x', 'Upgrade: websocket', 'Connection: keep-alive, Upgrade', `Sec-WebSocket-Key: ${RFC_KEY}`, 'Sec-WebSocket-Version: 13'].join('\r\n');
    const reply = await send(port, head);
    expect(reply.status).toBe(101);
    expect(header(reply, 'sec-websocket-accept')).toBe(RFC_ACCEPT);
    expect(rec.handshakes).toHaveLength(1);
  });

  it('passes the request to onHandshake and its return value to onOpen as handshakeData', async () => {
    const rec = recorder();
    const token = { user: 'ada', at: 42 };
    const port = await start(rec, async (req) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      return { ...token, room: req.query.get('room'), path: req.path };
    });
    const reply = await send(port, upgradeRequest('/chat?room=7', ['Origin: http://example.test', 'Sec-WebSocket-Protocol: x, y']));
    expect(reply.status).toBe(101);
    await until(() => rec.opens.length === 1, 'onOpen');
    expect(rec.opens[0]?.data).toEqual({ user: 'ada', at: 42, room: '7', path: '/chat' });
    const req = rec.handshakes[0] as HandshakeRequest;
    expect(req.method).toBe('GET');
    expect(req.url).toBe('/chat?room=7');
    expect(req.origin).toBe('http://example.test');
    expect(req.subprotocols).toEqual(['x', 'y']);
    expect(req.remoteAddress).toBe('127.0.0.1');
    expect(req.remotePort).toBe(reply.socket.localPort);
    expect(req.headers['sec-websocket-key']).toBe(RFC_KEY);
  });

  it('response.reject(403, "nope") sends 403 with the body and never opens', async () => {
    const rec = recorder();
    const port = await start(rec, (_req, res) => {
      res.setHeader('X-Reason', 'banned');
      res.reject(403, 'nope');
      return 'unused';
    });
    const reply = await send(port, upgradeRequest());
    expect(reply.status).toBe(403);
    expect(reply.body).toBe('nope');
    expect(header(reply, 'x-reason')).toBe('banned');
    expect(header(reply, 'sec-websocket-accept')).toBeUndefined();
    await settle();
    expect(rec.handshakes).toHaveLength(1);
    expect(rec.opens).toHaveLength(0);
    expect(rec.closes).toHaveLength(0);
  });

  it('response.setHeader adds headers to the 101', async () => {
    const rec = recorder();
    const port = await start(rec, (_req, res) => {
      res.setHeader('X-Test', 'yes');
      res.setHeader('Set-Cookie', ['a=1', 'b=2']);
    });
    const reply = await send(port, upgradeRequest());
    expect(reply.status).toBe(101);
    expect(header(reply, 'x-test')).toBe('yes');
    expect(reply.headers.get('set-cookie')).toEqual(['a=1', 'b=2']);
    expect(header(reply, 'sec-websocket-accept')).toBe(RFC_ACCEPT);
  });

  it('response.setSubprotocol picks the protocol a ws client sees', async () => {
    const rec = recorder();
    const port = await start(rec, (req, res) => {
      res.setSubprotocol('b');
      return req.subprotocols;
    });
    const client = new WebSocket(`ws://127.0.0.1:${port}/`, ['a', 'b']);
    clients.add(client);
    client.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      client.once('open', () => resolve());
      client.once('unexpected-response', (_req, res) => reject(new Error(`status ${res.statusCode ?? 'none'}`)));
      client.once('error', reject);
    });
    expect(client.protocol).toBe('b');
    expect(rec.handshakes[0]?.subprotocols).toEqual(['a', 'b']);
    await until(() => rec.opens.length === 1, 'onOpen');
    expect(rec.opens[0]?.data).toEqual(['a', 'b']);
    client.close(1000, 'done');
    await until(() => rec.closes.length === 1, 'onClose');
    expect(rec.closes[0]).toMatchObject({ code: 1000, reason: 'done' });
  });

  it('without setSubprotocol no protocol is chosen even when offered', async () => {
    const rec = recorder();
    const port = await start(rec);
    const reply = await send(port, upgradeRequest('/', ['Sec-WebSocket-Protocol: a, b']));
    expect(reply.status).toBe(101);
    expect(header(reply, 'sec-websocket-protocol')).toBeUndefined();
  });

  it('a throwing onHandshake gives 500, is logged, and never opens or closes', async () => {
    const rec = recorder();
    const port = await start(rec, () => {
      throw new Error('handshake exploded');
    });
    const reply = await send(port, upgradeRequest());
    expect(reply.status).toBe(500);
    expect(reply.body).toBe('Internal Server Error');
    await settle();
    expect(rec.handshakes).toHaveLength(1);
    expect(rec.opens).toHaveLength(0);
    expect(rec.closes).toHaveLength(0);
    expect(rec.errors.some((message) => message.includes('onHandshake') && message.includes('handshake exploded'))).toBe(true);
  });

  it('a rejecting (async) onHandshake also gives 500', async () => {
    const rec = recorder();
    const port = await start(rec, () => Promise.reject(new Error('async failure')));
    const reply = await send(port, upgradeRequest());
    expect(reply.status).toBe(500);
    await settle();
    expect(rec.opens).toHaveLength(0);
    expect(rec.closes).toHaveLength(0);
  });

  it('upgrades with an Upgrade token list ("foo/1, websocket")', async () => {
    const rec = recorder();
    const port = await start(rec, () => 'token-list');
    const head = ['GET / HTTP/1.1', 'Host: x', 'Upgrade: foo/1, websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${RFC_KEY}`, 'Sec-WebSocket-Version: 13'].join('\r\n');
    const reply = await send(port, head);
    expect(reply.status).toBe(101);
    expect(header(reply, 'sec-websocket-accept')).toBe(RFC_ACCEPT);
    await until(() => rec.opens.length === 1, 'onOpen');
    expect(rec.opens[0]?.data).toBe('token-list');
  });

  // ws refuses these after the fact; they must be refused before onHandshake instead.
  it.each([
    ['an empty subprotocol item', 'a,,b'],
    ['a repeated subprotocol', 'a, a'],
    ['a subprotocol with a space', 'a b'],
  ])('%s: 400 and onHandshake not called', async (_name, protocols) => {
    const rec = recorder();
    const port = await start(rec);
    const reply = await send(port, upgradeRequest('/', [`Sec-WebSocket-Protocol: ${protocols}`]));
    expect(reply.status).toBe(400);
    expect(reply.body).toMatch(/Sec-WebSocket-Protocol/);
    await settle();
    expect(rec.handshakes).toHaveLength(0);
    expect(rec.opens).toHaveLength(0);
  });

  describe('path option', () => {
    it('answers 404 to an upgrade on another path without calling onHandshake', async () => {
      const rec = recorder();
      const port = await start(rec, undefined, { path: '/ws' });
      const reply = await send(port, upgradeRequest('/other'));
      expect(reply.status).toBe(404);
      expect(reply.body).toBe('Not Found');
      const prefix = await send(port, upgradeRequest('/ws/deeper'));
      expect(prefix.status).toBe(404);
      await settle();
      expect(rec.handshakes).toHaveLength(0);
    });

    it('answers 404 to a plain GET on another path, 426 on the path', async () => {
      const rec = recorder();
      const port = await start(rec, undefined, { path: '/ws' });
      const other = await send(port, ['GET /other HTTP/1.1', 'Host: x', 'Connection: close'].join('\r\n'));
      expect(other.status).toBe(404);
      const own = await send(port, ['GET /ws HTTP/1.1', 'Host: x', 'Connection: close'].join('\r\n'));
      expect(own.status).toBe(426);
    });

    it('upgrades on the path, query string ignored', async () => {
      const rec = recorder();
      const port = await start(rec, undefined, { path: '/ws' });
      const reply = await send(port, upgradeRequest('/ws?token=1'));
      expect(reply.status).toBe(101);
      expect(header(reply, 'sec-websocket-accept')).toBe(RFC_ACCEPT);
      expect(rec.handshakes[0]?.path).toBe('/ws');
    });
  });
});

describe('rejection headers', () => {
  it("an app's Content-Type replaces the default on a rejection", async () => {
    const { createServer } = await import('../../src/index.js');
    const server = createServer(
      {
        onHandshake: (_req, res) => {
          res.setHeader('Content-Type', 'application/json');
          res.reject(403, '{"e":1}');
        },
      },
      { host: '127.0.0.1', logger: { error: () => undefined, warn: () => undefined } },
    );
    await server.start();
    try {
      const { connect } = await import('node:net');
      const socket = connect(server.address()?.port ?? 0, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.write(
        'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      await new Promise((resolve) => socket.once('close', resolve));
      const text = Buffer.concat(chunks).toString('latin1');
      expect(text.startsWith('HTTP/1.1 403')).toBe(true);
      expect(text.match(/^content-type:/gim)).toHaveLength(1);
      expect(text).toMatch(/^Content-Type: application\/json\r$/m);
      expect(text.endsWith('{"e":1}')).toBe(true);
    } finally {
      await server.stop();
    }
  });
});
