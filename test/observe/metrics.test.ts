/**
 * Prometheus metrics: a real server and real `ws` clients run a known scenario, then
 * `GET /metrics` is scraped over HTTP and its text parsed; every counter is asserted exactly.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createLiveView, createMetrics, LifecycleStream, ServerStats, type ConnectionTransition, type Endpoint, type LifecycleState, type Message, type Websocket, type WsActorMetrics } from '../../src/index.js';
import { closed, connect, HandshakeRejected, startServer, waitFor, type StartedServer } from '../helpers/harness.js';

/** Parses the Prometheus text format into `name{a="x",b="y"}` (labels sorted) -> value. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) throw new Error(`unparsable line: ${line}`);
    const labels = [...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => `${k}="${v}"`).sort();
    out.set(labels.length === 0 ? (m[1] as string) : `${m[1]}{${labels.join(',')}}`, Number(m[3]));
  }
  return out;
}

/** Echoes every message; `?deny` is rejected with 403; onOpen takes 5 ms. */
class EchoApp implements Websocket<null> {
  endpoint: Endpoint | null = null;
  onStart(endpoint: Endpoint): void {
    this.endpoint = endpoint;
  }
  onHandshake(req: { query: URLSearchParams }, res: { reject(status: number, body?: string): void }): null {
    if (req.query.has('deny')) res.reject(403, 'denied');
    return null;
  }
  onOpen(): Promise<void> {
    return new Promise((r) => setTimeout(r, 5));
  }
  async onData(id: number, message: Message): Promise<void> {
    const ep = this.endpoint as Endpoint;
    const sent = message.isBinary ? await ep.sendBinary(await message.buffer(), id) : await ep.send(await message.text(), id);
    if (!sent.ok) throw sent.error;
  }
  onClose(): void {}
}

describe('createMetrics', () => {
  let started: StartedServer<null> | null = null;
  let http: HttpServer | null = null;
  let metrics: WsActorMetrics | null = null;
  afterEach(async () => {
    metrics?.close();
    await started?.server.stop();
    await new Promise<void>((r) => (http === null ? r() : http.close(() => r())));
    started = null;
    http = null;
    metrics = null;
  });

  async function serve(m: WsActorMetrics): Promise<string> {
    http = createHttpServer((req, res) => {
      if (!m.handle(req, res)) res.writeHead(404).end('nope');
    });
    await new Promise<void>((r) => http?.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  }

  async function scrape(base: string): Promise<Map<string, number>> {
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    return parse(await res.text());
  }

  it('counts a known scenario exactly: handshakes, messages, bytes, closes, hook timings', async () => {
    started = await startServer(new EchoApp());
    const { server } = started;
    metrics = createMetrics(server);
    expect(server.stats.onDataTimed).toBeTypeOf('function');
    const base = await serve(metrics);
    let closes = 0;
    server.lifecycle.subscribe((e) => void (e.kind === 'connection' && e.to === 'closed' && closes++));

    const a = await connect(started.url);
    const b = await connect(started.url);
    await expect(connect(`${started.url}?deny`)).rejects.toBeInstanceOf(HandshakeRejected);
    await waitFor(() => closes === 1, 2000, 'the rejected handshake to close');
    await waitFor(() => server.endpoint.getLocalClients().length === 2, 2000, 'both clients open');
    for (const text of ['hello', 'hi', 'hey there']) a.ws.send(text); // 5 + 2 + 9 = 16 bytes
    for (let i = 0; i < 2; i++) b.ws.send(Buffer.alloc(100, i)); // 200 bytes
    for (let i = 0; i < 3; i++) await a.nextMessage();
    for (let i = 0; i < 2; i++) await b.nextMessage();

    const during = await scrape(base);
    expect(during.get('wsactor_connections{state="open.ready"}')).toBe(2);
    expect(during.get('wsactor_connections{state="handshaking"}')).toBe(0);

    a.ws.close(4000, 'bye');
    b.ws.close(1000);
    await Promise.all([closed(a), closed(b)]);
    await waitFor(() => closes === 3, 2000, 'both opened clients to close');

    const m = await scrape(base);
    expect(m.get('wsactor_handshakes_total{outcome="accepted",status="101"}')).toBe(2);
    expect(m.get('wsactor_handshakes_total{outcome="rejected",status="403"}')).toBe(1);
    expect(m.get('wsactor_messages_total{direction="in"}')).toBe(5);
    expect(m.get('wsactor_messages_total{direction="out"}')).toBe(5);
    expect(m.get('wsactor_bytes_total{direction="in"}')).toBe(216);
    expect(m.get('wsactor_bytes_total{direction="out"}')).toBe(216);
    expect(m.get('wsactor_closes_total{code="4000"}')).toBe(1);
    expect(m.get('wsactor_closes_total{code="1000"}')).toBe(1);
    expect(m.get('wsactor_connections{state="open.ready"}')).toBe(0);
    expect(m.get('wsactor_messages_dropped_total')).toBe(0);
    expect(m.get('wsactor_slow_consumer_closes_total')).toBe(0);
    expect(m.get('wsactor_read_pauses_total{reason="backlog"}')).toBe(0);
    const count = (hook: string): number | undefined => m.get(`wsactor_hook_duration_seconds_count{hook="${hook}",result="ok"}`);
    expect([count('onHandshake'), count('onOpen'), count('onData'), count('onClose')]).toEqual([3, 2, 5, 2]);
    // onOpen sleeps 5 ms twice: the sum is in seconds.
    expect(m.get('wsactor_hook_duration_seconds_sum{hook="onOpen",result="ok"}')).toBeGreaterThanOrEqual(0.008);
    expect(m.get('wsactor_hook_duration_seconds_bucket{hook="onOpen",le="+Inf",result="ok"}')).toBe(2);

    metrics.close();
    expect(server.stats.onDataTimed).toBeNull();
    expect(await metrics.registry.getMetricsAsJSON()).toEqual([]);
  });

  it('mirrors every ServerStats counter, under a custom prefix in a shared registry', async () => {
    const stats = new ServerStats();
    const lifecycle = new LifecycleStream({ error: () => undefined, warn: () => undefined });
    const registry = new Registry();
    const other = new Counter({ name: 'app_requests_total', help: 'unrelated', registers: [registry] });
    other.inc(7);
    metrics = createMetrics({ stats, lifecycle }, { registry, prefix: 'chat_', path: '/m' });
    Object.assign(stats, { messagesIn: 1, bytesIn: 2, messagesOut: 3, bytesOut: 4, messagesDropped: 5, backlogPauses: 6, ratePauses: 8, slowConsumerCloses: 9 });
    const m = parse(await registry.metrics());
    expect(m.get('chat_messages_total{direction="in"}')).toBe(1);
    expect(m.get('chat_bytes_total{direction="in"}')).toBe(2);
    expect(m.get('chat_messages_total{direction="out"}')).toBe(3);
    expect(m.get('chat_bytes_total{direction="out"}')).toBe(4);
    expect(m.get('chat_messages_dropped_total')).toBe(5);
    expect(m.get('chat_read_pauses_total{reason="backlog"}')).toBe(6);
    expect(m.get('chat_read_pauses_total{reason="rate"}')).toBe(8);
    expect(m.get('chat_slow_consumer_closes_total')).toBe(9);
    stats.messagesIn = 41; // read again on the next scrape, not accumulated
    expect(parse(await registry.metrics()).get('chat_messages_total{direction="in"}')).toBe(41);

    stats.onDataTimed?.(2, false);
    lifecycle.emit({ kind: 'connection', clientId: 1, from: null, to: 'handshaking', at: 0, hook: null, closeCode: null, closeReason: null, outcome: null, status: null });
    const after = parse(await registry.metrics());
    expect(after.get('chat_hook_duration_seconds_count{hook="onData",result="error"}')).toBe(1);
    expect(after.get('chat_connections{state="handshaking"}')).toBe(1);

    const base = await serve(metrics);
    expect((await fetch(`${base}/metrics`)).status).toBe(404); // not ours: handle returned false
    expect((await fetch(`${base}/m`, { method: 'POST' })).status).toBe(405);
    expect(await (await fetch(`${base}/m`)).text()).toContain('app_requests_total 7');

    metrics.close();
    expect(stats.onDataTimed).toBeNull();
    expect(parse(await registry.metrics())).toEqual(new Map([['app_requests_total', 7]]));
  });

  it('counts every end once, as the live view does: closes, rejected and aborted handshakes, refused upgrades', async () => {
    const stats = new ServerStats();
    const lifecycle = new LifecycleStream({ error: () => undefined, warn: () => undefined });
    metrics = createMetrics({ stats, lifecycle });
    const view = createLiveView({ lifecycle, state: 'running' });
    const end = (clientId: number, path: LifecycleState[], outcome: ConnectionTransition['outcome'], closeCode: number | null = null, status: number | null = null): void => {
      let from: LifecycleState | null = null;
      for (const to of [...path, 'closed'] as LifecycleState[]) {
        const last = to === 'closed';
        lifecycle.emit({ kind: 'connection', clientId, from, to, at: clientId, hook: null, closeCode: last ? closeCode : null, closeReason: null, outcome: last ? outcome : null, status: last ? status : null });
        from = to;
      }
    };
    end(1, ['handshaking', 'handshaking.upgrading', 'open.opening', 'open.ready', 'closing.draining', 'closing.notifying'], 'closed', 1000);
    end(2, ['handshaking'], 'rejected', null, 401);
    end(3, ['handshaking', 'handshaking.upgrading'], 'aborted');
    end(4, ['handshaking', 'handshaking.upgrading', 'open.opening', 'open.ready'], 'aborted'); // a failed actor after open: a close (1006)
    lifecycle.emit({ kind: 'refused', status: 404, reason: 'Not Found', path: '/x', at: 5 });

    const m = parse(await metrics.registry.metrics());
    const sum = (prefix: string): number => [...m].filter(([k]) => k.startsWith(prefix)).reduce((s, [, v]) => s + v, 0);
    expect({
      opened: m.get('wsactor_handshakes_total{outcome="accepted",status="101"}'),
      closes: sum('wsactor_closes_total'),
      rejected: m.get('wsactor_handshakes_total{outcome="rejected",status="401"}'),
      aborted: m.get('wsactor_handshakes_total{outcome="aborted",status=""}'),
      refused: m.get('wsactor_upgrades_refused_total{status="404"}'),
    }).toEqual(view.snapshot().totals);
    expect(view.snapshot().totals).toEqual({ opened: 2, closes: 2, rejected: 1, aborted: 1, refused: 1 });
    expect(m.get('wsactor_closes_total{code="1006"}')).toBe(1);
    expect(view.snapshot().closes.map((c) => c.end)).toEqual(['closed', 'rejected', 'aborted', 'closed']);
    await view.close();
  });

  it('does nothing to a server unless created', async () => {
    started = await startServer(new EchoApp());
    expect(started.server.stats.onDataTimed).toBeNull();
    expect(started.server.lifecycle.active).toBe(false);
    metrics = createMetrics(started.server);
    expect(started.server.lifecycle.active).toBe(true);
    metrics.close();
    expect(started.server.lifecycle.active).toBe(false);
  });
});
