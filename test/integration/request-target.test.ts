/**
 * Request-targets a peer controls: one that does not parse gets 400 (it used to throw inside
 * the upgrade handler and kill the process), and "//host/p" is a path, not a host.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createLiveView, createMetrics, type HandshakeRequest, type LiveView, type Websocket } from '../../src/index.js';
import { rawTcp } from '../helpers/raw-client.js';
import { connect, startServer, type StartedServer } from '../helpers/harness.js';

let running: StartedServer<unknown> | null = null;
let view: LiveView | null = null;
let http: Server | null = null;

afterEach(async () => {
  await view?.close();
  view = null;
  if (http !== null) await new Promise((resolve) => (http as Server).close(resolve));
  http = null;
  await running?.server.stop();
  running = null;
});

const UPGRADE = 'Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\nSec-WebSocket-Version: 13\r\n';

/** Sends a raw request and returns the status line of the answer. */
async function statusLine(port: number, target: string, upgrade = true, headers = upgrade ? UPGRADE : 'Host: x\r\n'): Promise<string> {
  const socket = await rawTcp(port);
  socket.write(`GET ${target} HTTP/1.1\r\n${headers}\r\n`);
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (Buffer.concat(chunks).includes('\r\n')) resolve();
    });
    socket.on('close', () => resolve());
  });
  socket.destroy();
  return Buffer.concat(chunks).toString('latin1').split('\r\n')[0] ?? '';
}

describe('request-targets', () => {
  it.each([{ path: '/ws' }, {}])('an unparsable target gets 400, upgrade or not, and the server lives on (%j)', async (options) => {
    running = await startServer({}, options);
    expect(await statusLine(running.port, 'http://[')).toBe('HTTP/1.1 400 Bad Request');
    expect(await statusLine(running.port, 'http://[', false)).toBe('HTTP/1.1 400 Bad Request');
    const client = await connect(`ws://127.0.0.1:${running.port}${options.path ?? '/'}`);
    client.ws.terminate();
  });

  it('"//host/p" is a path: request.path keeps it, and it does not match path "/"', async () => {
    const paths: string[] = [];
    const app: Websocket<unknown> = { onHandshake: (request: HandshakeRequest) => void paths.push(`${request.path} ${request.query.get('q')}`) };
    running = await startServer(app);
    expect(await statusLine(running.port, '//evil.example/x?q=1')).toBe('HTTP/1.1 101 Switching Protocols');
    expect(paths).toEqual(['//evil.example/x 1']);
    await running.server.stop();
    running = await startServer(app, { path: '/' });
    expect(await statusLine(running.port, '//evil.example/')).toBe('HTTP/1.1 404 Not Found');
  });

  it('the live view and metrics handlers survive an unparsable target', async () => {
    running = await startServer({});
    view = createLiveView(running.server);
    const { url } = await view.listen({ port: 0, host: '127.0.0.1' });
    expect(await statusLine(Number(new URL(url).port), 'http://[', false)).toMatch(/^HTTP\/1.1 404/);
    const metrics = createMetrics(running.server);
    http = createHttpServer((req, res) => {
      if (!metrics.handle(req, res)) res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => (http as Server).listen(0, '127.0.0.1', resolve));
    expect(await statusLine((http.address() as AddressInfo).port, 'http://[', false)).toBe('HTTP/1.1 404 Not Found');
    metrics.close();
  });

  it('what the HTTP parser refuses gets its status as Node answers it (400, 431), on the server and the live view', async () => {
    running = await startServer({});
    view = createLiveView(running.server);
    const { url } = await view.listen({ port: 0, host: '127.0.0.1' });
    for (const port of [running.port, Number(new URL(url).port)]) {
      for (const target of ['ws', '/\u00e9']) expect(await statusLine(port, target)).toBe('HTTP/1.1 400 Bad Request');
      expect(await statusLine(port, `/?${'a'.repeat(20_000)}`)).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    }
    const client = await connect(running.url);
    client.ws.terminate();
  });

  it('a backslash, a fragment or the asterisk form gets 400, not a normalized path (path confusion)', async () => {
    const paths: string[] = [];
    running = await startServer({ onHandshake: (request: HandshakeRequest) => void paths.push(request.path) }, { path: '/chat' });
    for (const target of ['/x\\..\\chat', '/chat\\', '/chat#frag', '*']) {
      expect(await statusLine(running.port, target)).toBe('HTTP/1.1 400 Bad Request');
      expect(await statusLine(running.port, target, false)).toBe('HTTP/1.1 400 Bad Request');
    }
    expect(await statusLine(running.port, 'http://host/chat?x=1')).toBe('HTTP/1.1 101 Switching Protocols');
    expect(paths).toEqual(['/chat']);
  });

  it('an upgrade without a Host header, or with two, gets 400 (RFC 9112 3.2)', async () => {
    const opened: number[] = [];
    running = await startServer({ onOpen: (id: number) => void opened.push(id) });
    const upgrade = UPGRADE.replace('Host: x\r\n', '');
    for (const hosts of ['', 'Host: a\r\nHost: b\r\n']) {
      expect(await statusLine(running.port, '/', true, hosts + upgrade)).toBe('HTTP/1.1 400 Bad Request');
    }
    expect(opened).toEqual([]);
  });

  it('headers that do not finish within handshakeTimeoutMs get 408 (slowloris)', async () => {
    running = await startServer({}, { handshakeTimeoutMs: 300 });
    const socket = await rawTcp(running.port);
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n');
    const answer = await new Promise<string>((resolve) => {
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    });
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 408 Request Timeout');
  });
});
