/**
 * Attach mode with several upgrade listeners on one http server: an upgrade no listener
 * takes is answered 404 (at once when only wsactor servers listen; after handshakeTimeoutMs
 * when another library listens too and wrote nothing), never left hanging.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import type { WsActorServer } from '../../src/index.js';
import { HandshakeRejected, connect, startServer } from '../helpers/harness.js';

const servers: WsActorServer<unknown>[] = [];
const https: Server[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) await server.stop();
  for (const http of https.splice(0)) {
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
  }
});

async function listening(): Promise<{ http: Server; port: number }> {
  const http = createHttpServer();
  https.push(http);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return { http, port: (http.address() as AddressInfo).port };
}

/** The HTTP status of an upgrade to `url` (101 when it opened) and how long the answer took. */
async function status(url: string): Promise<{ status: number; ms: number }> {
  const started = Date.now();
  try {
    const client = await connect(url);
    client.ws.terminate();
    return { status: 101, ms: Date.now() - started };
  } catch (error) {
    if (error instanceof HandshakeRejected) return { status: error.status, ms: Date.now() - started };
    throw error;
  }
}

describe('attach mode: who answers an upgrade nobody takes', () => {
  it('two wsactor servers on /a and /b: /c gets 404 at once; each path stays served until its server stops', async () => {
    const { http, port } = await listening();
    const a = await startServer({}, { server: http, path: '/a' });
    const b = await startServer({}, { server: http, path: '/b' });
    servers.push(a.server, b.server);
    expect(http.listenerCount('upgrade')).toBe(1);

    expect((await status(`ws://127.0.0.1:${port}/a`)).status).toBe(101);
    expect((await status(`ws://127.0.0.1:${port}/b`)).status).toBe(101);
    const unmatched = await status(`ws://127.0.0.1:${port}/c`);
    expect(unmatched.status).toBe(404);
    expect(unmatched.ms).toBeLessThan(1000);

    await a.server.stop();
    expect((await status(`ws://127.0.0.1:${port}/a`)).status).toBe(404);
    expect((await status(`ws://127.0.0.1:${port}/b`)).status).toBe(101);
    await b.server.stop();
    expect(http.listenerCount('upgrade')).toBe(0);
  });

  it('an upgrade the router answers 404 is reported on each attached server\'s lifecycle stream', async () => {
    const { http, port } = await listening();
    const a = await startServer({}, { server: http, path: '/a' });
    const b = await startServer({}, { server: http, path: '/b' });
    servers.push(a.server, b.server);
    const seen: string[] = [];
    a.server.lifecycle.subscribe((e) => void (e.kind === 'refused' && seen.push(`a ${e.status} ${e.path}`)));
    b.server.lifecycle.subscribe((e) => void (e.kind === 'refused' && seen.push(`b ${e.status} ${e.path}`)));
    expect((await status(`ws://127.0.0.1:${port}/c?x=1`)).status).toBe(404);
    expect(seen.sort()).toEqual(['a 404 /c', 'b 404 /c']);
  });

  it('beside a ws server of the app: its path works; an unmatched upgrade gets 404 after handshakeTimeoutMs', async () => {
    const { http, port } = await listening();
    const raw = new WebSocketServer({ noServer: true });
    raw.on('connection', (ws) => ws.send('from raw ws'));
    http.on('upgrade', (req, socket, head) => {
      // The app answers /raw later than at once, as an auth lookup would.
      if (req.url === '/raw') setTimeout(() => raw.handleUpgrade(req, socket, head, (ws) => raw.emit('connection', ws, req)), 100);
    });
    const a = await startServer({}, { server: http, path: '/a', handshakeTimeoutMs: 400 });
    servers.push(a.server);

    const client = await connect(`ws://127.0.0.1:${port}/raw`);
    expect((await client.nextMessage()).data.toString()).toBe('from raw ws');
    client.ws.terminate();
    expect((await status(`ws://127.0.0.1:${port}/a`)).status).toBe(101);
    const unmatched = await status(`ws://127.0.0.1:${port}/c`);
    expect(unmatched.status).toBe(404);
    expect(unmatched.ms).toBeGreaterThanOrEqual(350);
    expect(unmatched.ms).toBeLessThan(2000);
    raw.close();
  });
});
