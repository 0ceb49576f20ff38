/**
 * The Endpoint and the server lifecycle against a real server and real `ws` clients on
 * 127.0.0.1 (port 0 throughout).
 */
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, get as httpGetRaw, type Server as HttpServer } from 'node:http';
import { createConnection, createServer as createNetServer, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import {
  createServer,
  ErrorCodes,
  type BroadcastResult,
  type Endpoint,
  type HandshakeRequest,
  type Message,
  type SendResult,
  type ServerOptions,
  type Websocket,
  type WsActorServer,
} from '../../src/index.js';
import {
  captureLogger,
  closed,
  connect,
  deferred,
  HandshakeRejected,
  startServer,
  waitFor,
  type StartedServer,
  type TestClient,
} from '../helpers/harness.js';

type Tag = string | null;
type MaybePromise<T> = T | Promise<T>;

interface CloseRecord {
  readonly id: number;
  readonly code: number;
  readonly reason: string;
}

/** Records every hook call; behaviour per test is plugged in through the `*Hook` fields. */
class TestApp implements Websocket<Tag> {
  #endpoint: Endpoint | null = null;
  /** Tag from the `?tag=` query of the upgrade request -> client id. */
  readonly ids = new Map<string, number>();
  readonly opened: number[] = [];
  readonly closes: CloseRecord[] = [];
  readonly received: { id: number; message: Message }[] = [];
  stopCalls = 0;
  openHook: ((id: number, tag: Tag) => MaybePromise<void>) | null = null;
  dataHook: ((id: number, message: Message) => MaybePromise<void>) | null = null;
  closeHook: ((id: number, code: number, reason: string) => MaybePromise<void>) | null = null;
  stopHook: (() => MaybePromise<void>) | null = null;

  get endpoint(): Endpoint {
    if (this.#endpoint === null) throw new Error('onStart has not run');
    return this.#endpoint;
  }

  onStart(endpoint: Endpoint): void {
    this.#endpoint = endpoint;
  }

  onHandshake(request: HandshakeRequest): Tag {
    return request.query.get('tag');
  }

  async onOpen(id: number, tag: Tag): Promise<void> {
    this.opened.push(id);
    if (tag !== null) this.ids.set(tag, id);
    await this.openHook?.(id, tag);
  }

  async onData(id: number, message: Message): Promise<void> {
    this.received.push({ id, message });
    await this.dataHook?.(id, message);
  }

  async onClose(id: number, code: number, reason: string): Promise<void> {
    this.closes.push({ id, code, reason });
    await this.closeHook?.(id, code, reason);
  }

  async onStop(): Promise<void> {
    this.stopCalls++;
    await this.stopHook?.();
  }

  closesOf(id: number): CloseRecord[] {
    return this.closes.filter((c) => c.id === id);
  }
}

interface Opened {
  readonly client: TestClient;
  readonly id: number;
}

const servers: WsActorServer<Tag>[] = [];
const httpServers: HttpServer[] = [];
const sockets: WebSocket[] = [];

afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await Promise.all(servers.splice(0).map((s) => s.stop()));
  await Promise.all(
    httpServers.splice(0).map(
      (h) =>
        new Promise<void>((resolve) => {
          h.close(() => resolve());
          h.closeAllConnections();
        }),
    ),
  );
});

interface Setup extends StartedServer<Tag> {
  readonly app: TestApp;
  readonly ep: Endpoint;
  /** Connects a client with `?tag=<tag>` and waits until its `onOpen` ran. */
  readonly open: (tag: string) => Promise<Opened>;
}

async function setup(options: ServerOptions = {}, app = new TestApp()): Promise<Setup> {
  const started = await startServer(app, options);
  servers.push(started.server);
  const open = async (tag: string): Promise<Opened> => {
    const client = await connect(`${started.url}?tag=${encodeURIComponent(tag)}`);
    sockets.push(client.ws);
    await waitFor(() => app.ids.has(tag), 2000, `onOpen of ${tag}`);
    return { client, id: app.ids.get(tag) as number };
  };
  return { ...started, app, ep: app.endpoint, open };
}

function expectFailure(result: SendResult, ...codes: string[]): void {
  expect(result.ok).toBe(false);
  if (!result.ok) expect(codes).toContain(result.error.code);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function text(received: { data: Buffer }): string {
  return received.data.toString('utf8');
}

function sorted(ids: readonly number[]): number[] {
  return [...ids].sort((a, b) => a - b);
}

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpGetRaw(url, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** 'connected', or the error code of a plain TCP connect to 127.0.0.1:port. */
function tcpProbe(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: Error & { code?: string }) => resolve(error.code ?? error.message));
  });
}

async function freePort(): Promise<number> {
  const probe = createNetServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve, reject) => probe.close((error) => (error ? reject(error) : resolve())));
  return port;
}

describe('send and sendBinary', () => {
  it('deliver text as text and binary as binary, byte for byte, and resolve { ok: true }', async () => {
    const { ep, open } = await setup();
    const { client, id } = await open('a');
    const backing = new Uint8Array([9, 9, 1, 2, 3, 9]);
    const arrayBuffer = new Uint8Array([250, 251]).buffer;

    const results = await Promise.all([
      ep.send('héllo ✓', id),
      ep.sendBinary(Buffer.from([0, 1, 2, 255]), id),
      ep.sendBinary(backing.subarray(2, 5), id),
      ep.sendBinary(arrayBuffer, id),
      ep.send('', id),
      ep.sendBinary(Buffer.alloc(0), id),
    ]);
    for (const result of results) expect(result).toEqual({ ok: true });

    const got = [];
    for (let i = 0; i < 6; i++) got.push(await client.nextMessage());
    expect(got.map((m) => m.isBinary)).toEqual([false, true, true, true, false, true]);
    expect(text(got[0] as { data: Buffer })).toBe('héllo ✓');
    expect([...(got[1]?.data ?? [])]).toEqual([0, 1, 2, 255]);
    expect([...(got[2]?.data ?? [])]).toEqual([1, 2, 3]);
    expect([...(got[3]?.data ?? [])]).toEqual([250, 251]);
    expect(got[4]?.data.length).toBe(0);
    expect(got[5]?.data.length).toBe(0);
  });

  it('resolve WSA_ERR_UNKNOWN_CLIENT for unknown ids and never throw synchronously', async () => {
    const { ep, open } = await setup();
    const { client, id } = await open('a');
    const badIds = [id + 1_000_000, Number.NaN, -1, 0, 1.5, Infinity, String(id) as never, undefined as never, null as never];
    for (const bad of badIds) {
      let pending: Promise<SendResult>[] = [];
      expect(() => {
        pending = [ep.send('x', bad), ep.sendBinary(Buffer.from('x'), bad), ep.close(bad)];
      }).not.toThrow();
      for (const result of await Promise.all(pending)) expectFailure(result, ErrorCodes.UNKNOWN_CLIENT);
      expect(ep.getLocalInfo(bad)).toBeUndefined();
    }
    // The real client got none of it (a string id must not alias the numeric one).
    expect(await ep.send('marker', id)).toEqual({ ok: true });
    expect(text(await client.nextMessage())).toBe('marker');
  });

  it('resolve WSA_ERR_INVALID_DATA for data of the wrong type', async () => {
    const { ep, open } = await setup();
    const { client, id } = await open('a');
    const pending = [
      ep.send(Buffer.from('x') as never, id),
      ep.send(42 as never, id),
      ep.send(null as never, id),
      ep.send(undefined as never, id),
      ep.sendBinary('text' as never, id),
      ep.sendBinary(null as never, id),
      ep.sendBinary([1, 2, 3] as never, id),
      ep.sendBinary({ length: 1 } as never, id),
    ];
    for (const result of await Promise.all(pending)) expectFailure(result, ErrorCodes.INVALID_DATA);

    const broadcast = await ep.broadcast(7 as never);
    expect(broadcast.sent).toEqual([]);
    expect(broadcast.failed.map((f) => [f.clientId, f.error.code])).toEqual([[id, ErrorCodes.INVALID_DATA]]);
    const multicast = await ep.multicastBinary('nope' as never, [id]);
    expect(multicast.sent).toEqual([]);
    expect(multicast.failed.map((f) => f.error.code)).toEqual([ErrorCodes.INVALID_DATA]);

    expect(await ep.send('marker', id)).toEqual({ ok: true });
    expect(text(await client.nextMessage())).toBe('marker');
    expect(client.messages).toHaveLength(1);
  });

  it('never report ok: true once the close began: right after endpoint.close, and inside onClose', async () => {
    const { app, ep, open } = await setup();
    const { client, id } = await open('a');
    const inOnClose: SendResult[] = [];
    app.closeHook = async (closingId) => {
      inOnClose.push(
        ...(await Promise.all([
          ep.send('late', closingId),
          ep.sendBinary(Buffer.from('late'), closingId),
          ep.close(closingId, 4001),
        ])),
      );
    };

    const closing = ep.close(id, 4000, 'bye');
    const afterClose = [ep.send('after', id), ep.sendBinary(Buffer.from('after'), id)];
    expect(await closing).toEqual({ ok: true });
    for (const result of await Promise.all(afterClose)) {
      expectFailure(result, ErrorCodes.CLIENT_CLOSING, ErrorCodes.UNKNOWN_CLIENT);
    }
    expectFailure(await ep.close(id), ErrorCodes.CLIENT_CLOSING, ErrorCodes.UNKNOWN_CLIENT);

    expect(await closed(client)).toEqual({ code: 4000, reason: 'bye' });
    await waitFor(() => inOnClose.length === 3, 2000, 'sends inside onClose');
    for (const result of inOnClose) expectFailure(result, ErrorCodes.CLIENT_CLOSING, ErrorCodes.UNKNOWN_CLIENT);
    expect(client.messages).toEqual([]);
  });

  it('never report ok: true inside onClose when the peer closed', async () => {
    const { app, ep, open } = await setup();
    const { client, id } = await open('a');
    const inOnClose = deferred<BroadcastResult & { single: SendResult }>();
    app.closeHook = async (closingId) => {
      const [single, many] = await Promise.all([ep.send('late', closingId), ep.broadcast('late')]);
      inOnClose.resolve({ ...many, single });
    };
    client.ws.close(4100, 'peer leaves');
    const { single, sent, failed } = await inOnClose.promise;
    expectFailure(single, ErrorCodes.CLIENT_CLOSING, ErrorCodes.UNKNOWN_CLIENT);
    expect(sent).toEqual([]);
    // A client whose close began is no broadcast target: the leaving client is not reported failed.
    expect(failed).toEqual([]);
    expect(app.closesOf(id)).toEqual([{ id, code: 4100, reason: 'peer leaves' }]);
  });
});

describe('broadcast and multicast', () => {
  // Bad id lists resolve with a failure, never reject (see endpoint-ids.test.ts for each shape).
  it('multicast with a non-array clientIds resolves instead of rejecting', async () => {
    const { ep } = await setup();
    await expect(ep.multicast('x', undefined as never)).resolves.toMatchObject({ sent: [] });
  });

  it('broadcast tolerates a non-array exceptIds (treated as empty)', async () => {
    const { ep, open } = await setup();
    const { client, id } = await open('a');
    expect(await ep.broadcast('x', null as never)).toEqual({ sent: [id], failed: [] });
    expect(text(await client.nextMessage())).toBe('x');
  });

  it('reach every client, skip exceptIds, and report sent and failed ids', async () => {
    const { ep, open } = await setup();
    const a = await open('a');
    const b = await open('b');
    const c = await open('c');
    const all = sorted([a.id, b.id, c.id]);

    const everyone = await ep.broadcast('to all');
    expect(sorted(everyone.sent)).toEqual(all);
    expect(everyone.failed).toEqual([]);
    for (const { client } of [a, b, c]) {
      const m = await client.nextMessage();
      expect([text(m), m.isBinary]).toEqual(['to all', false]);
    }

    const notB = await ep.broadcast('not b', [b.id]);
    expect(sorted(notB.sent)).toEqual(sorted([a.id, c.id]));
    const mc = await ep.multicast('a and c', [a.id, c.id, 987_654_321]);
    expect(sorted(mc.sent)).toEqual(sorted([a.id, c.id]));
    expect(mc.failed.map((f) => [f.clientId, f.error.code])).toEqual([[987_654_321, ErrorCodes.UNKNOWN_CLIENT]]);

    const bin = await ep.broadcastBinary(Buffer.from([1, 2, 3]), [c.id]);
    expect(sorted(bin.sent)).toEqual(sorted([a.id, b.id]));
    const mcb = await ep.multicastBinary(new Uint8Array([7, 8]), [b.id]);
    expect(mcb).toEqual({ sent: [b.id], failed: [] });
    // Markers prove that nothing else was queued before them.
    expect((await ep.broadcast('end')).sent).toHaveLength(3);

    const seen = async (client: TestClient): Promise<string[]> => {
      const out: string[] = [];
      for (;;) {
        const m = await client.nextMessage();
        out.push(m.isBinary ? `bin:${[...m.data].join(',')}` : text(m));
        if (text(m) === 'end') return out;
      }
    };
    expect(await seen(a.client)).toEqual(['not b', 'a and c', 'bin:1,2,3', 'end']);
    expect(await seen(b.client)).toEqual(['bin:1,2,3', 'bin:7,8', 'end']);
    expect(await seen(c.client)).toEqual(['not b', 'a and c', 'end']);
  });

  it('broadcast with no clients resolves empty; multicast to only unknown ids fails each', async () => {
    const { ep } = await setup();
    expect(await ep.broadcast('nobody')).toEqual({ sent: [], failed: [] });
    const result = await ep.multicastBinary(Buffer.from('x'), [1e9, 1e9 + 1]);
    expect(result.sent).toEqual([]);
    expect(result.failed.map((f) => [f.clientId, f.error.code])).toEqual([
      [1e9, ErrorCodes.UNKNOWN_CLIENT],
      [1e9 + 1, ErrorCodes.UNKNOWN_CLIENT],
    ]);
  });

  it('keep call order for interleaved send, sendBinary and broadcast issued in one burst', async () => {
    const { ep, open } = await setup();
    const a = await open('a');
    const b = await open('b');
    const expectedA: string[] = [];
    const expectedB: string[] = [];
    const pending: Promise<SendResult | BroadcastResult>[] = [];
    for (let i = 0; i < 200; i++) {
      const payload = `m${i}`;
      if (i % 3 === 0) {
        pending.push(ep.broadcast(payload));
        expectedA.push(`t:${payload}`);
        expectedB.push(`t:${payload}`);
      } else if (i % 3 === 1) {
        pending.push(ep.send(payload, a.id));
        expectedA.push(`t:${payload}`);
      } else {
        pending.push(ep.sendBinary(Buffer.from(payload), a.id));
        expectedA.push(`b:${payload}`);
      }
    }
    for (const result of await Promise.all(pending)) {
      if ('ok' in result) expect(result.ok).toBe(true);
      else expect(result.failed).toEqual([]);
    }
    await waitFor(() => a.client.messages.length >= expectedA.length && b.client.messages.length >= expectedB.length);
    const tagged = (client: TestClient): string[] => client.messages.map((m) => `${m.isBinary ? 'b' : 't'}:${text(m)}`);
    expect(tagged(a.client)).toEqual(expectedA);
    expect(tagged(b.client)).toEqual(expectedB);
  });
});

describe('close', () => {
  it('sends the code and reason to the client and reports them to onClose', async () => {
    const { app, ep, open } = await setup();
    const { client, id } = await open('a');
    expect(await ep.close(id, 4000, 'bye')).toEqual({ ok: true });
    expect(await closed(client)).toEqual({ code: 4000, reason: 'bye' });
    await waitFor(() => app.closesOf(id).length > 0);
    expect(app.closesOf(id)).toEqual([{ id, code: 4000, reason: 'bye' }]);
  });

  it('defaults to 1000 and accepts a reason of exactly 123 bytes', async () => {
    const { app, ep, open } = await setup();
    const a = await open('a');
    const b = await open('b');
    const reason = 'é'.repeat(61) + 'x'; // 123 bytes
    expect(await ep.close(a.id)).toEqual({ ok: true });
    expect(await ep.close(b.id, 3000, reason)).toEqual({ ok: true });
    expect(await closed(a.client)).toEqual({ code: 1000, reason: '' });
    expect(await closed(b.client)).toEqual({ code: 3000, reason });
    await waitFor(() => app.closes.length === 2);
    expect(app.closesOf(b.id)).toEqual([{ id: b.id, code: 3000, reason }]);
  });

  it('rejects invalid codes and long reasons with ok: false and leaves the client open', async () => {
    const { app, ep, open } = await setup();
    const { client, id } = await open('a');
    for (const code of [1005, 999, 1004, 5000, 1006, 1015, 2999, 0, -1, 1000.5, Number.NaN]) {
      expectFailure(await ep.close(id, code), ErrorCodes.INVALID_CLOSE_CODE);
    }
    for (const reason of ['x'.repeat(124), 'é'.repeat(62), 5 as never]) {
      expectFailure(await ep.close(id, 4000, reason), ErrorCodes.INVALID_CLOSE_REASON);
    }
    expectFailure(await ep.close(id + 1_000_000, 4000, 'x'), ErrorCodes.UNKNOWN_CLIENT);
    expect(await ep.send('still open', id)).toEqual({ ok: true });
    expect(text(await client.nextMessage())).toBe('still open');
    expect(client.ws.readyState).toBe(WebSocket.OPEN);
    expect(app.closes).toEqual([]);
  });
});

describe('getInfo and getClients', () => {
  it('counts messages, frames and bytes in both directions', async () => {
    const before = Date.now();
    const { app, ep, open } = await setup();
    const { client, id } = await open('a');
    const fresh = ep.getLocalInfo(id);
    expect(fresh).toMatchObject({
      client_id: id,
      state: 'open',
      remote_address: '127.0.0.1',
      messages_read: 0,
      messages_sent: 0,
      bytes_read: 0,
      bytes_sent: 0,
      closed_at: null,
      close_code: null,
      last_data_read_at: null,
      last_data_sent_at: null,
    });
    expect(fresh?.connected_at).toBeGreaterThanOrEqual(before);
    expect(fresh?.connected_at).toBeLessThanOrEqual(Date.now());

    client.ws.send('hello'); // 2 + 4 (mask) + 5 bytes
    client.ws.send(Buffer.from([1, 2, 3])); // 2 + 4 + 3
    client.ws.send(Buffer.from([4, 5, 6])); // 2 + 4 + 3
    await waitFor(() => app.received.length === 3);
    expect(await ep.send('abc', id)).toEqual({ ok: true }); // 2 + 3
    expect(await ep.sendBinary(Buffer.from([1, 2, 3, 4]), id)).toEqual({ ok: true }); // 2 + 4
    await client.nextMessage();
    await client.nextMessage();

    const info = ep.getLocalInfo(id);
    expect(info).toMatchObject({
      messages_read: 3,
      messages_sent: 2,
      frames_read: 3,
      frames_sent: 2,
      messages_dropped: 0,
      bytes_read: 29,
      bytes_sent: 11,
    });
    expect(typeof info?.last_data_read_at).toBe('number');
    expect(typeof info?.last_data_sent_at).toBe('number');
    expect(info?.last_data_read_at).toBeGreaterThanOrEqual(info?.connected_at ?? Infinity);
    expect(info?.last_data_sent_at).toBeGreaterThanOrEqual(info?.last_data_read_at ?? Infinity);

    // A ping is a frame but not a message; ws answers it with a pong.
    const pong = new Promise<void>((resolve) => client.ws.once('pong', () => resolve()));
    client.ws.ping();
    await pong;
    expect(ep.getLocalInfo(id)).toMatchObject({
      messages_read: 3,
      messages_sent: 2,
      frames_read: 4,
      frames_sent: 3,
      bytes_read: 35,
      bytes_sent: 13,
    });
    // A message in two fragments, binary or text: one message, two frames.
    client.ws.send(Buffer.from([1, 2]), { binary: true, fin: false }); // 2 + 4 + 2
    client.ws.send(Buffer.from([3, 4]), { binary: true, fin: true }); // 2 + 4 + 2
    client.ws.send('ab', { binary: false, fin: false }); // 2 + 4 + 2
    client.ws.send('cd', { binary: false, fin: true }); // 2 + 4 + 2
    await waitFor(() => app.received.length === 5);
    expect(ep.getLocalInfo(id)).toMatchObject({ messages_read: 5, frames_read: 8, bytes_read: 67 });
    // getInfo returns a snapshot, not a live view.
    expect(info?.frames_read).toBe(3);
  });

  it('getClients lists open clients; a closing client is left out while getInfo still answers until its onClose finished', async () => {
    const { app, ep, open } = await setup();
    expect(ep.getLocalClients()).toEqual([]);
    const a = await open('a');
    const b = await open('b');
    expect(sorted(ep.getLocalClients())).toEqual(sorted([a.id, b.id]));

    const duringClose: { listed: boolean; state: string | undefined; closedAt: unknown }[] = [];
    const release = deferred();
    app.closeHook = async (id) => {
      const info = ep.getLocalInfo(id);
      duringClose.push({ listed: ep.getLocalClients().includes(id), state: info?.state, closedAt: info?.closed_at });
      await release.promise;
    };
    a.client.ws.close(1000);
    await waitFor(() => duringClose.length === 1, 2000, 'onClose of a');
    expect(duringClose[0]).toMatchObject({ listed: false, state: 'closing' });
    expect(typeof duringClose[0]?.closedAt).toBe('number');
    expect(ep.getLocalClients()).toEqual([b.id]);
    release.resolve();
    await waitFor(() => ep.getLocalInfo(a.id) === undefined, 2000, 'a to be gone');
    expect(ep.getLocalClients()).toEqual([b.id]);
    expectFailure(await ep.send('gone', a.id), ErrorCodes.UNKNOWN_CLIENT);
  });

  it('without a cluster, the async getClients/getInfo answer what the local forms answer', async () => {
    const { ep, open } = await setup();
    const a = await open('a');
    const b = await open('b');
    expect(sorted(await ep.getClients())).toEqual(sorted([a.id, b.id]));
    expect(await ep.getInfo(a.id)).toEqual(ep.getLocalInfo(a.id));
    expect(await ep.getInfo(a.id + 2 ** 32)).toBeUndefined();
    expect(await ep.getInfo(Number.NaN)).toBeUndefined();
    // An id of another node is simply unknown when there is no cluster to ask.
    expectFailure(await ep.send('x', b.id + 2 ** 32), ErrorCodes.UNKNOWN_CLIENT);
    expectFailure(await ep.close(b.id + 2 ** 32), ErrorCodes.UNKNOWN_CLIENT);
  });
});

describe('client ids', () => {
  it('are unique increasing integers, never reused, across two servers in one process', async () => {
    const one = await setup();
    const two = await setup();
    const ids: number[] = [];
    const order = [one, two, one, one, two, one];
    for (const [index, s] of order.entries()) {
      const { client, id } = await s.open(`c${index}`);
      ids.push(id);
      if (index % 2 === 0) {
        client.ws.close();
        await waitFor(() => s.app.closesOf(id).length === 1 && !s.ep.getLocalClients().includes(id));
      }
    }
    for (const id of ids) expect(Number.isSafeInteger(id) && id > 0).toBe(true);
    for (let i = 1; i < ids.length; i++) expect(ids[i]).toBeGreaterThan(ids[i - 1] as number);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('hook failures', () => {
  it('onOpen throwing closes that client with 1011, onClose once, others unaffected, error logged', async () => {
    const { app, ep, open, logged, server } = await setup();
    const boom = new Error('open failed');
    app.openHook = (_id, tag) => {
      if (tag === 'bad') throw boom;
    };
    const good = await open('good');
    const bad = await open('bad');
    expect(await closed(bad.client)).toEqual({ code: 1011, reason: 'Internal server error, aborting' });
    await waitFor(() => app.closesOf(bad.id).length === 1);
    expect(app.closesOf(bad.id)).toEqual([{ id: bad.id, code: 1011, reason: 'Internal server error, aborting' }]);

    expect(await ep.send('still fine', good.id)).toEqual({ ok: true });
    expect(text(await good.client.nextMessage())).toBe('still fine');
    good.client.ws.send('ping');
    await waitFor(() => app.received.some((r) => r.id === good.id));

    const entry = logged.find((e) => e.level === 'error' && e.message.includes(`onOpen failed for client ${bad.id}`));
    expect(entry?.error).toBe(boom);
    await server.stop();
    expect(app.closesOf(bad.id)).toHaveLength(1);
    expect(app.closesOf(good.id)).toEqual([{ id: good.id, code: 1001, reason: 'Server shutting down' }]);
  });

  it('onData throwing closes that client with 1011 and drops what it sent after', async () => {
    const { app, ep, open, logged, server } = await setup();
    const boom = new Error('data failed');
    app.dataHook = async (_id, message) => {
      if ((await message.text()) === 'boom') throw boom;
    };
    const good = await open('good');
    const bad = await open('bad');
    bad.client.ws.send('boom');
    expect(await closed(bad.client)).toEqual({ code: 1011, reason: 'Internal server error, aborting' });
    await waitFor(() => app.closesOf(bad.id).length === 1);
    expect(app.closesOf(bad.id)[0]?.code).toBe(1011);
    const entry = logged.find((e) => e.level === 'error' && e.message.includes(`onData failed for client ${bad.id}`));
    expect(entry?.error).toBe(boom);

    good.client.ws.send('fine');
    await waitFor(() => app.received.some((r) => r.id === good.id));
    expect(await ep.send('ok', good.id)).toEqual({ ok: true });
    expect(text(await good.client.nextMessage())).toBe('ok');
    await server.stop();
    expect(app.closesOf(bad.id)).toHaveLength(1);
  });

  it('onClose throwing is only logged', async () => {
    const { app, ep, open, logged, server } = await setup();
    const boom = new Error('close failed');
    app.closeHook = () => {
      throw boom;
    };
    const a = await open('a');
    const b = await open('b');
    a.client.ws.close(4002, 'done');
    await waitFor(() => !ep.getLocalClients().includes(a.id), 2000, 'a released');
    const entry = logged.find((e) => e.message.includes(`onClose failed for client ${a.id}`));
    expect(entry?.level).toBe('error');
    expect(entry?.error).toBe(boom);
    expect(app.closesOf(a.id)).toEqual([{ id: a.id, code: 4002, reason: 'done' }]);
    expect(await ep.send('unaffected', b.id)).toEqual({ ok: true });
    expect(text(await b.client.nextMessage())).toBe('unaffected');
    await server.stop();
    expect(app.closesOf(b.id)).toHaveLength(1);
  });
});

describe('Message', () => {
  it('gives text(), buffer(), isBinary, size and chunk iteration, for large and fragmented messages', async () => {
    const { app, open } = await setup();
    const seen: { isBinary: boolean; size: number; text: string; buffer: Buffer; chunks: Buffer[] }[] = [];
    app.dataHook = async (_id, message) => {
      const chunks: Buffer[] = [];
      for await (const chunk of message) chunks.push(chunk);
      seen.push({ isBinary: message.isBinary, size: message.size, text: await message.text(), buffer: await message.buffer(), chunks });
    };
    const { client } = await open('a');
    const big = randomBytes(300 * 1024);
    const first = randomBytes(1000);
    const second = randomBytes(2000);

    client.ws.send('héllo wörld');
    client.ws.send(big);
    client.ws.send(first, { binary: true, fin: false });
    client.ws.send(second, { binary: true, fin: true });
    client.ws.send('ab', { binary: false, fin: false });
    client.ws.send('cdé', { binary: false, fin: true });
    await waitFor(() => seen.length === 4, 5000, 'four messages');

    const [t, b, frag, fragText] = seen;
    expect(t).toMatchObject({ isBinary: false, size: Buffer.byteLength('héllo wörld'), text: 'héllo wörld' });
    expect(t?.buffer.equals(Buffer.from('héllo wörld'))).toBe(true);

    expect(b?.isBinary).toBe(true);
    expect(b?.size).toBe(big.length);
    expect(b?.buffer.equals(big)).toBe(true);
    expect(Buffer.concat(b?.chunks ?? []).equals(big)).toBe(true);

    expect(frag?.isBinary).toBe(true);
    expect(frag?.chunks.map((c) => c.length)).toEqual([1000, 2000]);
    expect(frag?.chunks[0]?.equals(first)).toBe(true);
    expect(frag?.chunks[1]?.equals(second)).toBe(true);
    expect(frag?.buffer.equals(Buffer.concat([first, second]))).toBe(true);
    expect(frag?.size).toBe(3000);

    expect(fragText).toMatchObject({ isBinary: false, text: 'abcdé', size: Buffer.byteLength('abcdé') });
  });
});

describe('attach mode', () => {
  it('shares a borrowed http server, serves /ws, and leaves the server running after stop()', async () => {
    const httpServer = createHttpServer((_req, res) => res.end('plain route'));
    httpServers.push(httpServer);
    await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
    const { port } = httpServer.address() as AddressInfo;

    const { ep, open, url, server } = await setup({ server: httpServer, path: '/ws' });
    expect(url).toBe(`ws://127.0.0.1:${port}/ws`);
    expect(await httpGet(`http://127.0.0.1:${port}/`)).toEqual({ status: 200, body: 'plain route' });

    const { client, id } = await open('a');
    expect(await ep.send('over /ws', id)).toEqual({ ok: true });
    expect(text(await client.nextMessage())).toBe('over /ws');

    await expect(connect(`ws://127.0.0.1:${port}/other`)).rejects.toMatchObject({ status: 404 });

    await server.stop();
    expect(await closed(client)).toEqual({ code: 1001, reason: 'Server shutting down' });
    expect(httpServer.listening).toBe(true);
    expect(await httpGet(`http://127.0.0.1:${port}/`)).toEqual({ status: 200, body: 'plain route' });
    expect(httpServer.listenerCount('upgrade')).toBe(0);
  });
});

describe('server lifecycle', () => {
  it('start() twice returns the same promise', async () => {
    const { logger } = captureLogger();
    const server = createServer(new TestApp(), { host: '127.0.0.1', port: 0, logger });
    servers.push(server);
    const first = server.start();
    expect(server.start()).toBe(first);
    await first;
    expect(server.start()).toBe(first);
    expect(server.state).toBe('running');
    expect(server.address()?.port).toBeGreaterThan(0);
  });

  it('a rejecting onStart makes start() reject and leaves nothing listening', async () => {
    const port = await freePort();
    const boom = new Error('no database');
    const { logger } = captureLogger();
    let opened = 0;
    const server = createServer(
      {
        onStart: () => Promise.reject(boom),
        onOpen: () => void opened++,
      },
      { host: '127.0.0.1', port, logger },
    );
    await expect(server.start()).rejects.toMatchObject({ code: ErrorCodes.HOOK_FAILED, cause: boom });
    expect(server.state).toBe('failed');
    expect(server.address()).toBeNull();
    expect(await tcpProbe(port)).toBe('ECONNREFUSED');
    await server.stop();
    await server.stop();
    expect(opened).toBe(0);
  });

  it('stop() closes clients with 1001, resolves after their onClose settled, runs onStop once; safe twice', async () => {
    const { app, ep, open, server, port } = await setup();
    const settled: number[] = [];
    app.closeHook = async (id) => {
      await sleep(50);
      settled.push(id);
    };
    const a = await open('a');
    const b = await open('b');

    const first = server.stop();
    const second = server.stop();
    await Promise.all([first, second]);
    expect(sorted(settled)).toEqual(sorted([a.id, b.id]));
    expect(app.stopCalls).toBe(1);
    for (const { client, id } of [a, b]) {
      expect(await closed(client)).toEqual({ code: 1001, reason: 'Server shutting down' });
      expect(app.closesOf(id)).toEqual([{ id, code: 1001, reason: 'Server shutting down' }]);
    }
    expect(server.state).toBe('stopped');
    expect(ep.getLocalClients()).toEqual([]);
    expectFailure(await ep.send('after stop', a.id), ErrorCodes.UNKNOWN_CLIENT);
    expect(server.address()).toBeNull();
    expect(await tcpProbe(port)).toBe('ECONNREFUSED');

    await server.stop();
    expect(app.stopCalls).toBe(1);
  });

  it('start() on a server stopped before it started rejects with WSA_ERR_SERVER_STATE', async () => {
    const app = new TestApp();
    const server = createServer(app, { host: '127.0.0.1', port: 0, logger: captureLogger().logger });
    await server.stop();
    expect(server.state).toBe('stopped');
    await expect(server.start()).rejects.toMatchObject({ code: ErrorCodes.SERVER_STATE });
    expect(server.address()).toBeNull();
    expect(app.stopCalls).toBe(0);
  });

  // BUG (reported): start() after a completed stop() returns the old, resolved start promise,
  // so `await start()` succeeds while nothing listens. Flip to it() once fixed.
  it('start() after stop() rejects with WSA_ERR_SERVER_STATE', async () => {
    const { server } = await setup();
    await server.stop();
    await expect(server.start()).rejects.toMatchObject({ code: ErrorCodes.SERVER_STATE });
  });

  it('answers upgrades with 503 while a slow onStop runs; existing clients are still reachable then', async () => {
    const { app, ep, open, server, url } = await setup();
    const a = await open('a');
    const entered = deferred();
    const gate = deferred();
    app.stopHook = async () => {
      entered.resolve();
      await gate.promise;
    };
    const stopping = server.stop();
    await entered.promise;
    expect(server.state).toBe('stopping');

    const rejection = await connect(`${url}?tag=late`).then(
      (client) => {
        sockets.push(client.ws);
        return null;
      },
      (error: unknown) => error,
    );
    expect(rejection).toBeInstanceOf(HandshakeRejected);
    expect((rejection as HandshakeRejected).status).toBe(503);
    expect(app.ids.has('late')).toBe(false);

    expect(await ep.send('during onStop', a.id)).toEqual({ ok: true });
    expect(text(await a.client.nextMessage())).toBe('during onStop');
    expect(a.client.ws.readyState).toBe(WebSocket.OPEN);

    gate.resolve();
    await stopping;
    expect(await closed(a.client)).toEqual({ code: 1001, reason: 'Server shutting down' });
    expect(app.stopCalls).toBe(1);
  });
});
