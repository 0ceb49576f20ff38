/**
 * The broadcast fast path: one frame encoded once and written to every idle socket. These
 * pin the frame encoding at every length boundary and the order against single sends, also
 * when compression keeps a `ws` sender busy (the fast path must then fall back to ws.send).
 */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createServer, type Endpoint, type ServerOptions, type WsActorServer } from '../../src/index.js';

const silent = { error: () => undefined, warn: () => undefined };

describe('broadcast fast path', () => {
  let server: WsActorServer | null = null;
  const clients: WebSocket[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.terminate();
    await server?.stop();
    server = null;
  });

  async function setup(count: number, options: ServerOptions = {}, clientDeflate = false): Promise<{ endpoint: Endpoint; received: { data: Buffer; binary: boolean }[][] }> {
    let endpoint: Endpoint | null = null;
    let opened = 0;
    server = createServer({ onStart: (ep) => void (endpoint = ep), onOpen: () => void opened++ }, { host: '127.0.0.1', logger: silent, ...options });
    await server.start();
    const received: { data: Buffer; binary: boolean }[][] = [];
    for (let k = 0; k < count; k++) {
      const ws = new WebSocket(`ws://127.0.0.1:${server.address()?.port}`, { perMessageDeflate: clientDeflate });
      ws.on('error', () => undefined);
      const inbox: { data: Buffer; binary: boolean }[] = [];
      ws.on('message', (data: Buffer, binary) => inbox.push({ data, binary }));
      received.push(inbox);
      clients.push(ws);
      await once(ws, 'open');
    }
    while (opened < count) await new Promise((r) => setTimeout(r, 5));
    return { endpoint: endpoint as unknown as Endpoint, received };
  }

  async function until(predicate: () => boolean): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!predicate() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  }

  it('encodes every length boundary correctly, text and binary', async () => {
    const { endpoint, received } = await setup(3);
    const sizes = [0, 1, 125, 126, 127, 65535, 65536, 70000];
    for (const size of sizes) {
      const bytes = Buffer.alloc(size, size % 251);
      const text = 'é'.repeat(Math.floor(size / 2)) + 'x'.repeat(size % 2);
      const r1 = await endpoint.broadcastBinary(bytes);
      const r2 = await endpoint.broadcast(text);
      expect(r1.failed).toEqual([]);
      expect(r2.failed).toEqual([]);
    }
    await until(() => received.every((inbox) => inbox.length === sizes.length * 2));
    for (const inbox of received) {
      sizes.forEach((size, k) => {
        const bin = inbox[2 * k];
        const txt = inbox[2 * k + 1];
        expect(bin?.binary).toBe(true);
        expect(bin?.data.equals(Buffer.alloc(size, size % 251))).toBe(true);
        expect(txt?.binary).toBe(false);
        expect(txt?.data.toString('utf8')).toBe('é'.repeat(Math.floor(size / 2)) + 'x'.repeat(size % 2));
      });
    }
  });

  it('keeps per-client order with single sends, also while compression keeps a sender busy', async () => {
    const { endpoint, received } = await setup(2, { perMessageDeflate: { threshold: 16 } }, true);
    const [a, b] = endpoint.getLocalClients() as [number, number];
    const expected: string[][] = [[], []];
    const pending: Promise<unknown>[] = [];
    for (let k = 0; k < 300; k++) {
      const big = `${k}:` + 'z'.repeat(k % 3 === 0 ? 5000 : 4); // big ones get compressed
      if (k % 2 === 0) {
        pending.push(endpoint.broadcast(big));
        expected[0]?.push(big);
        expected[1]?.push(big);
      } else {
        pending.push(endpoint.send(big, k % 4 === 1 ? a : b));
        expected[k % 4 === 1 ? 0 : 1]?.push(big);
      }
    }
    await Promise.all(pending);
    await until(() => received.every((inbox, i) => inbox.length === expected[i]?.length));
    received.forEach((inbox, i) => expect(inbox.map((m) => m.data.toString())).toEqual(expected[i]));
    expect(endpoint.getLocalInfo(a)?.messages_sent).toBe(expected[0]?.length);
  });
});
