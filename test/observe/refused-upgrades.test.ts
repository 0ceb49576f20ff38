/**
 * Upgrades refused before a connection exists (issue 16, live view point 5): the server's
 * UpgradeGate reports each one on the lifecycle stream (kind `refused`: status, reason, path,
 * time) while it has listeners; metrics count them in `upgrades_refused_total{status}` and the
 * live view in its `refused` total and its refused-upgrades list. Nothing else moves: no
 * connection, no handshake counted, no close.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect as connectTcp } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createLiveView, createMetrics, LifecycleStream, type LifecycleEvent, type LiveView, type UpgradeRefusal, type Websocket, type WsActorMetrics } from '../../src/index.js';
import { connect, startServer, waitFor, type StartedServer } from '../helpers/harness.js';

const app: Websocket<null> = { onHandshake: () => null };

const UPGRADE = 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';

/** Sends a raw request and resolves with the answer's status line. */
function rawRequest(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp(port, '127.0.0.1', () => socket.write(head));
    let answer = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(answer.split('\r\n')[0] ?? ''));
  });
}

function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(\S+?)(\{.*\})? (\S+)$/.exec(line);
    if (m !== null && !line.startsWith('#')) out.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return out;
}

describe('refused upgrades', () => {
  let started: StartedServer<null> | null = null;
  let view: LiveView | null = null;
  let metrics: WsActorMetrics | null = null;
  let http: HttpServer | null = null;
  afterEach(async () => {
    await view?.close();
    metrics?.close();
    await new Promise<void>((r) => (http === null ? r() : http.close(() => r())));
    await started?.server.stop();
    started = view = metrics = http = null;
  });

  it('are reported by the server, counted by metrics and listed by the live view', async () => {
    started = await startServer(app, { path: '/ws', allowedOrigins: ['http://ok.example'], maxConnections: 1 });
    const { server, port, url } = started;
    // Nobody listening: the gate answers as before and reports nothing.
    expect(server.lifecycle.active).toBe(false);
    await expect(connect(url.replace('/ws', '/early'))).rejects.toMatchObject({ status: 404 });

    const events: LifecycleEvent[] = [];
    server.lifecycle.subscribe((e) => void events.push(e));
    view = createLiveView(server);
    const m = createMetrics(server);
    metrics = m;
    http = createHttpServer((req, res) => void (m.handle(req, res) || res.writeHead(404).end()));
    await new Promise<void>((r) => http?.listen(0, '127.0.0.1', r));
    const scrape = async (): Promise<Map<string, number>> => parseMetrics(await (await fetch(`http://127.0.0.1:${(http?.address() as AddressInfo).port}/metrics`)).text());

    const ok = { headers: { Origin: 'http://ok.example' } };
    await expect(connect(`${url.replace('/ws', '/nope')}?token=secret`, ok)).rejects.toMatchObject({ status: 404, body: 'Not Found' });
    await expect(connect(url, { headers: { Origin: 'http://evil.example' } })).rejects.toMatchObject({ status: 403 });
    const client = await connect(url, ok);
    await expect(connect(url, ok)).rejects.toMatchObject({ status: 503 });
    expect(await rawRequest(port, `GET /ws HTTP/1.1\r\nHost: x\r\n${UPGRADE}Sec-WebSocket-Version: 8\r\n\r\n`)).toBe('HTTP/1.1 400 Bad Request');
    expect(await rawRequest(port, `GET http://[ HTTP/1.1\r\nHost: x\r\n${UPGRADE}Sec-WebSocket-Version: 13\r\n\r\n`)).toBe('HTTP/1.1 400 Bad Request');
    // A plain HTTP request (no upgrade) to another path is ordinary HTTP: not reported.
    expect((await fetch(`http://127.0.0.1:${port}/elsewhere`)).status).toBe(404);
    await waitFor(() => events.filter((e) => e.kind === 'refused').length === 5, 2000, 'five refusals');

    const refused = events.filter((e): e is UpgradeRefusal => e.kind === 'refused');
    expect(refused.map(({ status, reason, path }) => ({ status, reason, path }))).toEqual([
      { status: 404, reason: 'Not Found', path: '/nope' }, // the pathname only: the query stays out
      { status: 403, reason: 'Origin forbidden', path: '/ws' },
      { status: 503, reason: 'Service Unavailable: connection limit reached', path: '/ws' },
      { status: 400, reason: 'Bad Request: unsupported Sec-WebSocket-Version', path: '/ws' },
      { status: 400, reason: 'Bad Request: invalid request target', path: null },
    ]);
    for (const e of refused) expect(e.at).toBeGreaterThan(Date.now() - 10_000);

    const scraped = await scrape();
    expect(scraped.get('wsactor_upgrades_refused_total{status="404"}')).toBe(1);
    expect(scraped.get('wsactor_upgrades_refused_total{status="403"}')).toBe(1);
    expect(scraped.get('wsactor_upgrades_refused_total{status="503"}')).toBe(1);
    expect(scraped.get('wsactor_upgrades_refused_total{status="400"}')).toBe(2);
    // Only the one real connection counts as a handshake; nothing was closed or rejected.
    expect([...scraped].filter(([k]) => k.startsWith('wsactor_handshakes_total'))).toEqual([['wsactor_handshakes_total{outcome="accepted",status="101"}', 1]]);

    const snapshot = view.snapshot();
    expect(snapshot.totals).toEqual({ opened: 1, closes: 0, rejected: 0, aborted: 0, refused: 5 });
    expect(snapshot.refusals.map((r) => [r.status, r.path])).toEqual([
      [404, '/nope'],
      [403, '/ws'],
      [503, '/ws'],
      [400, '/ws'],
      [400, null],
    ]);
    expect(snapshot.clients).toHaveLength(1);
    expect(snapshot.closes).toEqual([]);
    expect(snapshot.counts.closed).toBe(0);
    client.ws.close();
  });

  it('are kept in a bounded list (maxCloses) with peer-controlled paths clipped and escaped', async () => {
    const lifecycle = new LifecycleStream({ error: () => undefined, warn: () => undefined });
    view = createLiveView({ lifecycle, state: 'running' }, { maxCloses: 2 });
    const refuse = (path: string | null, at: number): void => lifecycle.emit({ kind: 'refused', status: 404, reason: 'Not Found', path, at });
    refuse('/a', 1);
    refuse('/b', 2);
    refuse(`/<script>${'x'.repeat(400)}`, 3);
    const { refusals, totals } = view.snapshot();
    expect(totals.refused).toBe(3);
    expect(refusals.map((r) => r.at)).toEqual([2, 3]);
    expect(refusals[1]?.path).toHaveLength(200);
    expect(refusals[1]?.path?.endsWith('…')).toBe(true);

    const { url } = await view.listen();
    const html = await (await fetch(url)).text();
    expect(html).toContain('<td class="path">/&lt;script&gt;xxx');
    expect(html).not.toContain('<script>xxx');
    expect(html).toContain('the last 2, newest first');
  });
});
