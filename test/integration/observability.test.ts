/**
 * Lifecycle stream, JSON-lines writer and XState inspection (plain observer and the
 * `@statelyai/inspect` WebSocket inspector, received offline by a local ws server).
 */
import { once } from 'node:events';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createWebSocketInspector } from '@statelyai/inspect';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import type { InspectionEvent } from 'xstate';
import {
  createServer,
  jsonLinesWriter,
  type ConnectionTransition,
  type LifecycleEvent,
  type ServerOptions,
  type Websocket,
  type WsActorServer,
} from '../../src/index.js';

const silent = { error: () => undefined, warn: () => undefined };

async function until(predicate: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('observability', () => {
  let server: WsActorServer<unknown> | null = null;
  afterEach(async () => {
    await server?.stop();
    server = null;
  });

  async function start(app: Websocket<unknown>, options: ServerOptions = {}): Promise<string> {
    server = createServer(app, { host: '127.0.0.1', logger: silent, ...options });
    await server.start();
    return `ws://127.0.0.1:${server.address()?.port}`;
  }

  async function openClient(url: string): Promise<WebSocket> {
    const ws = new WebSocket(url);
    ws.on('error', () => undefined);
    await once(ws, 'open');
    return ws;
  }

  it('streams every transition of a connection with hook timings and the close code', async () => {
    const events: LifecycleEvent[] = [];
    const url = await start({
      onOpen: () => new Promise((r) => setTimeout(r, 20)),
    });
    const unsubscribe = server?.lifecycle.subscribe((e) => events.push(e));
    const ws = await openClient(url);
    await until(() => events.some((e) => e.kind === 'connection' && e.to === 'open.ready'));
    ws.close(4000, 'bye');
    await until(() => events.some((e) => e.kind === 'connection' && e.to === 'closed'));
    const mine = events.filter((e): e is ConnectionTransition => e.kind === 'connection');
    expect(mine.map((e) => [e.from, e.to])).toEqual([
      [null, 'handshaking'],
      ['handshaking', 'handshaking.upgrading'],
      ['handshaking.upgrading', 'open.opening'],
      ['open.opening', 'open.ready'],
      ['open.ready', 'closing.draining'],
      ['closing.draining', 'closing.notifying'],
      ['closing.notifying', 'closed'],
    ]);
    const ready = mine[3];
    expect(ready?.hook?.name).toBe('onOpen');
    expect(ready?.hook?.durationMs).toBeGreaterThanOrEqual(15);
    expect(mine[4]).toMatchObject({ closeCode: 4000, closeReason: 'bye' });
    expect(mine[6]).toMatchObject({ outcome: 'closed', closeCode: 4000 });
    unsubscribe?.();
    const before = events.length;
    (await openClient(url)).close();
    await new Promise((r) => setTimeout(r, 50));
    expect(events.length).toBe(before);
  });

  it('a close during onOpen goes from open.opening to closing, never through open.ready', async () => {
    const events: ConnectionTransition[] = [];
    const url = await start({ onOpen: () => new Promise((r) => setTimeout(r, 30)) });
    server?.lifecycle.subscribe((e) => void (e.kind === 'connection' && events.push(e)));
    const ws = await openClient(url);
    ws.close(4001);
    await until(() => events.some((e) => e.to === 'closed'));
    expect(events.map((e) => e.to)).toEqual([
      'handshaking',
      'handshaking.upgrading',
      'open.opening',
      'closing.draining',
      'closing.notifying',
      'closed',
    ]);
  });

  it('reports a rejected handshake with its status, and the server states', async () => {
    const events: LifecycleEvent[] = [];
    const url = await start({ onHandshake: (_req, res) => res.reject(403, 'no') });
    server?.lifecycle.subscribe((e) => events.push(e));
    const ws = new WebSocket(url);
    ws.on('error', () => undefined);
    await once(ws, 'unexpected-response');
    await until(() => events.some((e) => e.kind === 'connection' && e.to === 'closed'));
    const closed = events.find((e): e is ConnectionTransition => e.kind === 'connection' && e.to === 'closed');
    expect(closed).toMatchObject({ from: 'handshaking', outcome: 'rejected', status: 403 });
    expect(closed?.hook?.name).toBe('onHandshake');
    await server?.stop();
    expect(events.filter((e) => e.kind === 'server').map((e) => e.to)).toEqual(['stopping', 'stopped']);
  });

  it('writes the stream as JSON lines', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'wsactor-')), 'lifecycle.jsonl');
    const writer = jsonLinesWriter(file);
    const url = await start({});
    server?.lifecycle.subscribe(writer.listener);
    (await openClient(url)).close(1000);
    await until(() => (server?.endpoint.getLocalClients().length ?? 1) === 0);
    await new Promise((r) => setTimeout(r, 20));
    await writer.close();
    const lines = (await readFile(file, 'utf8')).trim().split('\n');
    const parsed = lines.map((l) => JSON.parse(l) as LifecycleEvent);
    expect(parsed.at(-1)).toMatchObject({ kind: 'connection', to: 'closed', closeCode: 1000 });
  });

  it('sends the inspection events of the supervisor and of every connection actor to one observer', async () => {
    const seen: InspectionEvent[] = [];
    const url = await start({}, { inspect: (e) => seen.push(e) });
    const a = await openClient(url);
    const b = await openClient(url);
    a.close();
    b.close();
    await until(() => (server?.endpoint.getLocalClients().length ?? 1) === 0);
    const machines = new Set(
      seen.filter((e) => e.type === '@xstate.actor').map((e) => (e.actorRef.getSnapshot() as { machine?: { id: string } }).machine?.id),
    );
    machines.delete(undefined); // the supervisor's invoked start/stop promise actors
    expect(machines).toEqual(new Set(['supervisor', 'connection']));
    const states = seen
      .flatMap((e) => (e.type === '@xstate.snapshot' ? [e.snapshot as { machine?: { id: string }; value?: unknown }] : []))
      .filter((snapshot) => snapshot.machine?.id === 'connection')
      .map((snapshot) => JSON.stringify(snapshot.value));
    for (const state of ['{"handshaking":"upgrading"}', '{"open":"opening"}', '{"open":"ready"}', '{"closing":"notifying"}', '"closed"']) {
      expect(states).toContain(state);
    }
  });

  it('works with @statelyai/inspect createWebSocketInspector, received offline', async () => {
    const receiver = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(receiver, 'listening');
    const received: { type: string; sessionId?: string }[] = [];
    receiver.on('connection', (socket) => {
      socket.on('message', (data: Buffer) => received.push(JSON.parse(data.toString()) as { type: string }));
    });
    const port = (receiver.address() as { port: number }).port;
    const inspector = createWebSocketInspector({ url: `ws://127.0.0.1:${port}` });
    try {
      const url = await start({}, { inspect: inspector.inspect });
      (await openClient(url)).close();
      await until(() => received.filter((e) => e.type === '@xstate.actor').length >= 2);
      await until(() => received.some((e) => e.type === '@xstate.snapshot'));
      expect(received.some((e) => e.type === '@xstate.event')).toBe(true);
    } finally {
      inspector.stop();
      receiver.close();
    }
  });
});
