/**
 * Live view over HTTP: the JSON snapshot after a known scenario, the Server-Sent Events
 * stream, escaping of peer-controlled text in the page, and the memory bounds.
 */
import { get, type IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createLiveView,
  LifecycleStream,
  type ConnectionTransition,
  type LifecycleState,
  type LiveView,
  type LiveViewSnapshot,
  type LiveViewUpdate,
  type Websocket,
} from '../../src/index.js';
import { closed, connect, HandshakeRejected, startServer, waitFor, type StartedServer } from '../helpers/harness.js';

const app: Websocket<null> = {
  onHandshake: (req, res) => {
    if (req.query.has('deny')) res.reject(403, 'denied');
    return null;
  },
  onOpen: () => new Promise((r) => setTimeout(r, 5)),
  onClose: () => undefined,
};

/** Reads Server-Sent Events from `url` into `events` until `stop()`. */
function sse(url: string): Promise<{ events: { type: string; data: string }[]; res: IncomingMessage; stop(): void }> {
  return new Promise((resolve, reject) => {
    const req = get(url, (res) => {
      const events: { type: string; data: string }[] = [];
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const type = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (type !== undefined && data !== undefined) events.push({ type, data });
        }
      });
      resolve({ events, res, stop: () => req.destroy() });
    });
    req.on('error', reject);
  });
}

describe('createLiveView', () => {
  let started: StartedServer<null> | null = null;
  let view: LiveView | null = null;
  afterEach(async () => {
    await view?.close();
    await started?.server.stop();
    view = null;
    started = null;
  });

  async function setup(): Promise<{ base: string; url: string }> {
    started = await startServer(app);
    view = createLiveView(started.server);
    const { url } = await view.listen({ port: 0 });
    return { base: url, url: started.url };
  }

  it('answers /state with the supervisor, counts, client timelines with hook durations, and closes', async () => {
    const { base, url } = await setup();
    const a = await connect(url);
    const b = await connect(url);
    await expect(connect(`${url}?deny`)).rejects.toBeInstanceOf(HandshakeRejected);
    await waitFor(() => view?.snapshot().counts['open.ready'] === 2, 2000, 'both ready');
    a.ws.close(4000, 'bye');
    await closed(a);
    await waitFor(() => (view?.snapshot().counts.closed ?? 0) === 2, 2000, 'two closes');
    await waitFor(() => view?.snapshot().counts['open.ready'] === 1, 2000, 'b ready');

    const res = await fetch(`${base}/state`);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const state = (await res.json()) as LiveViewSnapshot;
    expect(state.supervisor).toBe('running');
    expect(state.counts).toEqual({
      handshaking: 0,
      'handshaking.upgrading': 0,
      'open.opening': 0,
      'open.ready': 1,
      'closing.draining': 0,
      'closing.notifying': 0,
      closed: 2,
    });
    // Running totals apart from the current counts: `closed` above is both ends below.
    expect(state.totals).toEqual({ opened: 2, closes: 1, rejected: 1, aborted: 0, refused: 0 });
    expect(state.clients.map((c) => c.state)).toEqual(['closed', 'open.ready', 'closed']);
    const [first, second, rejected] = state.clients;
    expect(first?.timeline.map((t) => t.to)).toEqual([
      'handshaking',
      'handshaking.upgrading',
      'open.opening',
      'open.ready',
      'closing.draining',
      'closing.notifying',
      'closed',
    ]);
    expect(first?.timeline.map((t) => t.hook?.name ?? null)).toEqual([null, 'onHandshake', null, 'onOpen', null, null, 'onClose']);
    expect(first?.timeline[3]?.hook?.durationMs).toBeGreaterThanOrEqual(4);
    expect(first).toMatchObject({ closeCode: 4000, closeReason: 'bye', outcome: 'closed', transitions: 7 });
    expect(second?.timeline.map((t) => t.to)).toEqual(['handshaking', 'handshaking.upgrading', 'open.opening', 'open.ready']);
    expect(rejected).toMatchObject({ state: 'closed', outcome: 'rejected', status: 403 });
    expect(state.closes).toEqual([
      expect.objectContaining({ clientId: rejected?.id, status: 403, outcome: 'rejected', code: null, end: 'rejected' }),
      expect.objectContaining({ clientId: first?.id, code: 4000, reason: 'bye', outcome: 'closed', end: 'closed' }),
    ]);
    b.ws.close();
  });

  it('streams a snapshot, then every transition, over Server-Sent Events', async () => {
    const { base, url } = await setup();
    const stream = await sse(`${base}/events`);
    expect(stream.res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    await waitFor(() => stream.events.length === 1, 2000, 'the snapshot');
    expect(stream.events[0]?.type).toBe('snapshot');
    expect((JSON.parse(stream.events[0]?.data ?? '') as LiveViewSnapshot).clients).toEqual([]);

    const updates = (): LiveViewUpdate[] => stream.events.filter((e) => e.type === 'update').map((e) => JSON.parse(e.data) as LiveViewUpdate);
    const client = await connect(url);
    await waitFor(() => updates().some((u) => u.event.kind === 'connection' && u.event.to === 'open.ready'), 2000, 'open.ready');
    client.ws.close(4001, 'done');
    await closed(client);
    await waitFor(() => updates().some((u) => u.event.kind === 'connection' && u.event.to === 'closed'), 2000, 'the closed update');
    const transitions = updates().map((u) => u.event as ConnectionTransition);
    expect(transitions.map((e) => e.to)).toEqual([
      'handshaking',
      'handshaking.upgrading',
      'open.opening',
      'open.ready',
      'closing.draining',
      'closing.notifying',
      'closed',
    ]);
    expect(transitions[4]).toMatchObject({ closeCode: 4001, closeReason: 'done' });
    expect(updates()[3]?.counts['open.ready']).toBe(1);
    expect(updates().at(-1)?.counts).toMatchObject({ 'open.ready': 0, closed: 1 });
    expect(updates().at(-1)).toMatchObject({ totals: { opened: 1, closes: 1 }, end: 'closed', evicted: [] });
    expect(updates()[0]?.end).toBeNull();

    await started?.server.stop();
    await waitFor(() => updates().some((u) => u.event.kind === 'server' && u.event.to === 'stopped'), 2000, 'server stopped');
    expect(updates().at(-1)?.supervisor).toBe('stopped');
    const ended = new Promise((r) => stream.res.once('end', r));
    await view?.close();
    await ended; // close() ends open event streams
  });

  it('escapes a peer-controlled close reason in the page, and sends a strict CSP', async () => {
    const { base, url } = await setup();
    const client = await connect(url);
    const evil = `<script>alert("x")</script>&'`;
    client.ws.close(4002, evil);
    await closed(client);
    await waitFor(() => view?.snapshot().counts.closed === 1, 2000, 'the close');
    const res = await fetch(base);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'; script-src 'nonce-[^']+'/);
    const html = await res.text();
    expect(html).not.toContain('<script>alert');
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;');
    // Exactly one script element: ours, with the nonce from the header.
    expect(html.match(/<script/g)).toHaveLength(1);
  });

  it('routes only its own paths', async () => {
    const { base } = await setup();
    const root = base.replace(/\/_wsactor$/, '');
    expect((await fetch(`${root}/other`)).status).toBe(404);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect((await fetch(`${base}/`)).status).toBe(200);
    expect((await fetch(`${base}/state`, { method: 'POST' })).status).toBe(405);
  });

  it('keeps the last clients (the longest closed forgotten first), transitions and closes; updates name the forgotten', async () => {
    const lifecycle = new LifecycleStream({ error: () => undefined, warn: () => undefined });
    view = createLiveView({ lifecycle, state: 'running' }, { maxClients: 3, maxTransitions: 2, maxCloses: 2 });
    const stream = await sse(`${(await view.listen()).url}/events`);
    await waitFor(() => stream.events.length === 1, 2000, 'the snapshot');
    const evicted = (): number[][] => stream.events.slice(1).map((e) => (JSON.parse(e.data) as LiveViewUpdate).evicted as number[]).filter((ids) => ids.length > 0);
    const last = new Map<number, LifecycleState>();
    const go = (clientId: number, to: LifecycleState, closeCode: number | null = null): void => {
      lifecycle.emit({ kind: 'connection', clientId, from: last.get(clientId) ?? null, to, at: clientId, hook: null, closeCode, closeReason: null, outcome: to === 'closed' ? 'closed' : null, status: null });
      last.set(clientId, to);
    };
    for (const id of [1, 2, 3]) for (const to of ['handshaking', 'handshaking.upgrading', 'open.opening', 'open.ready'] as const) go(id, to);
    go(3, 'closing.draining', 1000);
    go(3, 'closed', 1000);
    go(2, 'closing.draining', 1000);
    go(2, 'closed', 1000);
    go(4, 'handshaking'); // over maxClients: 3 goes (closed longest ago), not the older 1 or 2
    expect(view.snapshot().clients.map((c) => c.id)).toEqual([1, 2, 4]);
    go(5, 'handshaking'); // then 2, the other closed one
    expect(view.snapshot().clients.map((c) => c.id)).toEqual([1, 4, 5]);
    go(6, 'handshaking'); // nothing closed left: the oldest seen goes
    expect(view.snapshot().clients.map((c) => c.id)).toEqual([4, 5, 6]);
    go(3, 'handshaking'); // a forgotten id seen again is new
    expect(view.snapshot().clients.map((c) => c.id)).toEqual([5, 6, 3]);
    await waitFor(() => evicted().length === 4, 2000, 'the evictions');
    expect(evicted()).toEqual([[3], [2], [1], [4]]);
    stream.stop();
    for (const id of [5, 6]) for (const to of ['handshaking.upgrading', 'open.opening', 'open.ready'] as const) go(id, to);
    expect(view.snapshot().clients[0]).toMatchObject({ transitions: 4, timeline: [{ to: 'open.opening' }, { to: 'open.ready' }] });
    for (const id of [5, 6]) go(id, 'closed', 4000 + id);
    expect(view.snapshot().closes.map((c) => [c.clientId, c.code])).toEqual([
      [5, 4005],
      [6, 4006],
    ]);
    // Counts cover every connection, kept or forgotten.
    expect(view.snapshot().counts).toMatchObject({ 'open.ready': 1, handshaking: 2, closed: 4 });
  });
});
