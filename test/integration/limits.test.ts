/**
 * Every limit option against a real server on 127.0.0.1, each with a test that fails without
 * the feature. Timers run on an injected fake clock where the server's own timers decide
 * (heartbeat, handshake timeout, close period, rate windows), so nothing sleeps for long.
 * Also pins the two `ws` 8 internals src/runtime/limited-websocket.ts relies on (the
 * receiver's `haveLength` step and its `errored` state) through the frame-size and
 * fragment-count limits, as a `ws` client meets them.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, type ClientOptions } from 'ws';
import type { Clock, Endpoint, HandshakeRequest, Message, SendResult, ServerOptions, Websocket } from '../../src/index.js';
import { closed, connect, HandshakeRejected, startServer, waitFor, type StartedServer, type TestClient } from '../helpers/harness.js';
import { closePayload, frame, Opcode, rawTcp, rawUpgrade, type RawClient } from '../helpers/raw-client.js';

/** A clock that moves only when told; timers fire in order of due time. */
class FakeClock implements Clock {
  #now = 1_700_000_000_000;
  #nextId = 1;
  readonly #timers = new Map<number, { at: number; callback: () => void }>();

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let due: [number, { at: number; callback: () => void }] | undefined;
      for (const entry of this.#timers) if (entry[1].at <= target && (due === undefined || entry[1].at < due[1].at)) due = entry;
      if (due === undefined) break;
      this.#timers.delete(due[0]);
      this.#now = due[1].at;
      due[1].callback();
    }
    this.#now = target;
  }
}

type Event =
  | { hook: 'handshake'; tag: string }
  | { hook: 'open'; id: number; tag: string }
  | { hook: 'data'; id: number; text: string; isBinary: boolean; size: number }
  | { hook: 'close'; id: number; code: number; reason: string; dropped: number | undefined };

interface Recorder {
  readonly app: Websocket<string>;
  readonly events: Event[];
  endpoint(): Endpoint;
  /** Client id of the client that connected with `?tag=`. */
  idOf(tag: string): number | undefined;
  closesOf(id: number): Extract<Event, { hook: 'close' }>[];
  dataOf(id: number): string[];
}

/** An echo app that records every hook; `onHandshake` returns the `?tag=` query value. */
function recorder(hooks: { onHandshake?: (request: HandshakeRequest) => unknown; echo?: boolean } = {}): Recorder {
  const events: Event[] = [];
  let endpoint: Endpoint | null = null;
  const echo = hooks.echo ?? true;
  const app: Websocket<string> = {
    onStart(ep) {
      endpoint = ep;
    },
    async onHandshake(request) {
      const tag = request.query.get('tag') ?? '';
      events.push({ hook: 'handshake', tag });
      await hooks.onHandshake?.(request);
      return tag;
    },
    onOpen(id, tag) {
      events.push({ hook: 'open', id, tag });
    },
    async onData(id, message: Message) {
      const data = await message.buffer();
      events.push({ hook: 'data', id, text: data.toString('utf8'), isBinary: message.isBinary, size: data.length });
      if (!echo || endpoint === null) return;
      await (message.isBinary ? endpoint.sendBinary(data, id) : endpoint.send(data.toString('utf8'), id));
    },
    onClose(id, code, reason) {
      events.push({ hook: 'close', id, code, reason, dropped: endpoint?.getLocalInfo(id)?.messages_dropped });
    },
  };
  const isClose = (e: Event): e is Extract<Event, { hook: 'close' }> => e.hook === 'close';
  return {
    app,
    events,
    endpoint: () => {
      if (endpoint === null) throw new Error('onStart did not run');
      return endpoint;
    },
    idOf: (tag) => events.find((e): e is Extract<Event, { hook: 'open' }> => e.hook === 'open' && e.tag === tag)?.id,
    closesOf: (id) => events.filter(isClose).filter((e) => e.id === id),
    dataOf: (id) => events.flatMap((e) => (e.hook === 'data' && e.id === id ? [e.text] : [])),
  };
}

const servers: StartedServer<string>[] = [];
const rawClients: RawClient[] = [];
const wsClients: WebSocket[] = [];

afterEach(async () => {
  for (const raw of rawClients.splice(0)) raw.destroy();
  for (const ws of wsClients.splice(0)) ws.terminate();
  await Promise.all(servers.splice(0).map((s) => s.server.stop()));
});

async function start(rec: Recorder, options: ServerOptions): Promise<StartedServer<string>> {
  const started = await startServer(rec.app, { closePeriodMs: 500, ...options });
  servers.push(started);
  return started;
}

async function raw(started: StartedServer<string>, rec: Recorder, tag: string, headers: Record<string, string> = {}): Promise<{ raw: RawClient; id: number }> {
  const client = await rawUpgrade(started.port, { path: `/?tag=${tag}`, headers });
  rawClients.push(client);
  await waitFor(() => rec.idOf(tag) !== undefined, 2000, `onOpen of ${tag}`);
  return { raw: client, id: rec.idOf(tag) as number };
}

async function wsClient(started: StartedServer<string>, rec: Recorder, tag: string, opts: ClientOptions = {}): Promise<{ client: TestClient; id: number }> {
  const client = await connect(`${started.url}?tag=${tag}`, opts);
  wsClients.push(client.ws);
  await waitFor(() => rec.idOf(tag) !== undefined, 2000, `onOpen of ${tag}`);
  return { client, id: rec.idOf(tag) as number };
}

/** A `ws` client gets its echo: the server (and that client's connection) works. */
async function expectEcho(started: StartedServer<string>, rec: Recorder, tag: string): Promise<void> {
  const { client } = await wsClient(started, rec, tag);
  client.ws.send(`echo ${tag}`);
  expect((await client.nextMessage()).data.toString('utf8')).toBe(`echo ${tag}`);
}

describe('textOnly', () => {
  it('closes a client that sends a binary message with 1003 and counts the message as dropped', async () => {
    const rec = recorder();
    const started = await start(rec, { textOnly: true });
    const { client, id } = await wsClient(started, rec, 'binary');
    client.ws.send('text is fine');
    expect((await client.nextMessage()).data.toString('utf8')).toBe('text is fine');
    client.ws.send(Buffer.from([1, 2, 3]));
    expect(await closed(client)).toEqual({ code: 1003, reason: 'Binary messages are not accepted' });
    await waitFor(() => rec.closesOf(id).length === 1, 2000, 'onClose');
    expect(rec.closesOf(id)).toEqual([{ hook: 'close', id, code: 1003, reason: 'Binary messages are not accepted', dropped: 1 }]);
    expect(rec.dataOf(id)).toEqual(['text is fine']);
  });

  it('lets binary through when off', async () => {
    const rec = recorder();
    const started = await start(rec, {});
    const { client } = await wsClient(started, rec, 'binary-ok');
    client.ws.send(Buffer.from([1, 2, 3]));
    const echoed = await client.nextMessage();
    expect(echoed.isBinary).toBe(true);
    expect([...echoed.data]).toEqual([1, 2, 3]);
  });
});

describe('validateUtf8: false', () => {
  it('delivers a text message with invalid UTF-8 instead of closing with 1007', async () => {
    const rec = recorder({ echo: false });
    const started = await start(rec, { validateUtf8: false });
    const { raw: client, id } = await raw(started, rec, 'no-utf8-check');
    client.sendFrame({ opcode: Opcode.TEXT, payload: Buffer.from([0x61, 0xff, 0x62]) });
    await waitFor(() => rec.dataOf(id).length === 1, 2000, 'onData');
    expect(rec.closesOf(id)).toEqual([]);
    client.sendFrame({ opcode: Opcode.CLOSE, payload: closePayload(1000) });
    expect((await client.closeFrame()).code).toBe(1000);
  });
});

describe('frame size and fragment limits through a ws client (pins the ws internals they use)', () => {
  it('closes a single frame over maxFrameSize with 1009 "Max frame size exceeded"', async () => {
    const rec = recorder();
    const started = await start(rec, { maxFrameSize: 100, maxPayload: 10_000 });
    const { client } = await wsClient(started, rec, 'frame', { perMessageDeflate: false });
    client.ws.send(Buffer.alloc(100)); // at the limit: fine
    expect((await client.nextMessage()).data.length).toBe(100);
    client.ws.send(Buffer.alloc(101));
    expect(await closed(client)).toEqual({ code: 1009, reason: 'Max frame size exceeded' });
    await expectEcho(started, rec, 'after-frame');
  });

  it('closes a message of more than maxFragments frames with 1009 (ws alone would say 1008)', async () => {
    const rec = recorder();
    const started = await start(rec, { maxFragments: 4 });
    const { client } = await wsClient(started, rec, 'fragments', { perMessageDeflate: false });
    for (let k = 0; k < 5; k++) client.ws.send(`f${k}`, { fin: k === 4 });
    expect(await closed(client)).toEqual({ code: 1009, reason: 'Too many message fragments' });
    await expectEcho(started, rec, 'after-fragments');
  });
});

describe('heartbeat', () => {
  const options = (clock: FakeClock): ServerOptions => ({ clock, heartbeatMs: 1000, maxUnansweredPings: 2 });

  it('pings a silent peer after heartbeatMs and closes it with 1008 after maxUnansweredPings more', async () => {
    const clock = new FakeClock();
    const rec = recorder();
    const started = await start(rec, options(clock));
    const { raw: peer, id } = await raw(started, rec, 'silent');
    clock.advance(999);
    await sleep(50);
    expect(peer.frames).toEqual([]);
    clock.advance(1);
    expect((await peer.nextFrame()).opcode).toBe(Opcode.PING);
    clock.advance(1000);
    expect((await peer.nextFrame()).opcode).toBe(Opcode.PING);
    await sleep(20);
    expect(rec.closesOf(id)).toEqual([]);
    clock.advance(1000);
    const close = await peer.closeFrame();
    expect(close).toEqual({ code: 1008, reason: 'Exceeded unanswered PING limit' });
    expect(peer.frames.filter((f) => f.opcode === Opcode.PING)).toHaveLength(2);
    peer.sendFrame({ opcode: Opcode.CLOSE, payload: closePayload(1008) });
    await peer.waitClosed();
    await waitFor(() => rec.closesOf(id).length === 1, 2000, 'onClose');
    expect(rec.closesOf(id)[0]).toMatchObject({ code: 1008, reason: 'Exceeded unanswered PING limit' });
  });

  it('keeps a ws client that answers every ping open', async () => {
    const clock = new FakeClock();
    const rec = recorder();
    const started = await start(rec, options(clock));
    const { client, id } = await wsClient(started, rec, 'pongs');
    let pings = 0;
    client.ws.on('ping', () => pings++);
    for (let k = 1; k <= 6; k++) {
      clock.advance(1000);
      await waitFor(() => pings === k, 2000, `ping ${k}`);
      // The pong was read: the server saw it at the current (fake) time.
      await waitFor(() => rec.endpoint().getLocalInfo(id)?.last_read_at === clock.now(), 2000, `pong ${k}`);
    }
    expect(client.ws.readyState).toBe(WebSocket.OPEN);
    expect(rec.closesOf(id)).toEqual([]);
    client.ws.send('alive');
    expect((await client.nextMessage()).data.toString('utf8')).toBe('alive');
  });
});

describe('handshakeTimeoutMs', () => {
  it('drops a client that sends only half of its request headers, without onHandshake', async () => {
    const rec = recorder();
    const started = await start(rec, { handshakeTimeoutMs: 300 });
    const socket = await rawTcp(started.port);
    const began = Date.now();
    socket.write(`GET /?tag=slow HTTP/1.1\r\nHost: 127.0.0.1:${started.port}\r\nUpgrade: websocket\r\n`);
    const gone = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - began)));
    socket.resume();
    const elapsed = await Promise.race([gone, sleep(2000).then(() => -1)]);
    socket.destroy();
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(1500);
    expect(rec.events).toEqual([]);
    await expectEcho(started, rec, 'after-slowloris');
  });

  it('answers 503 when onHandshake does not settle in time, and never calls onOpen', async () => {
    const clock = new FakeClock();
    const rec = recorder({ onHandshake: (request) => (request.query.get('tag') === 'hang' ? new Promise(() => undefined) : undefined) });
    const started = await start(rec, { clock, handshakeTimeoutMs: 5000 });
    let outcome: unknown = 'pending';
    const attempt = connect(`${started.url}?tag=hang`).then(
      (client) => {
        wsClients.push(client.ws);
        outcome = 'open';
      },
      (error: unknown) => (outcome = error),
    );
    await waitFor(() => rec.events.some((e) => e.hook === 'handshake'), 2000, 'onHandshake');
    clock.advance(4999);
    await sleep(50);
    expect(outcome).toBe('pending');
    clock.advance(1);
    await attempt;
    expect(outcome).toBeInstanceOf(HandshakeRejected);
    expect((outcome as HandshakeRejected).status).toBe(503);
    expect(rec.events.filter((e) => e.hook === 'open')).toEqual([]);
    await expectEcho(started, rec, 'after-hang');
  });
});

describe('closePeriodMs', () => {
  it('destroys the socket of a peer that never answers our close after the period; onClose once with the app code', async () => {
    const clock = new FakeClock();
    const rec = recorder();
    const started = await start(rec, { clock, closePeriodMs: 5000 });
    const { raw: peer, id } = await raw(started, rec, 'deaf');
    expect(await rec.endpoint().close(id, 4001, 'bye')).toEqual({ ok: true });
    expect(await peer.closeFrame()).toEqual({ code: 4001, reason: 'bye' });
    // The peer never answers: the socket stays until the close period ends.
    clock.advance(4999);
    await sleep(100);
    expect(peer.closed).toBe(false);
    expect(rec.closesOf(id)).toEqual([]);
    clock.advance(1);
    await peer.waitClosed();
    await waitFor(() => rec.closesOf(id).length > 0, 2000, 'onClose');
    await sleep(50);
    expect(rec.closesOf(id)).toEqual([{ hook: 'close', id, code: 4001, reason: 'bye', dropped: 0 }]);
  });
});

describe('maxConnections', () => {
  it('answers 503 over the limit before onHandshake, and accepts again once a client left', async () => {
    const rec = recorder();
    const started = await start(rec, { maxConnections: 2 });
    const a = await wsClient(started, rec, 'a');
    await wsClient(started, rec, 'b');
    const third = await connect(`${started.url}?tag=c`).then(
      () => null,
      (error: unknown) => error,
    );
    expect(third).toBeInstanceOf(HandshakeRejected);
    expect((third as HandshakeRejected).status).toBe(503);
    expect((third as HandshakeRejected).body).toBe('Service Unavailable: connection limit reached');
    expect(rec.events.filter((e) => e.hook === 'handshake').map((e) => (e as { tag: string }).tag)).toEqual(['a', 'b']);
    a.client.ws.close();
    await waitFor(() => rec.closesOf(a.id).length === 1, 2000, 'onClose of a');
    await expectEcho(started, rec, 'd');
  });
});

describe('allowedOrigins', () => {
  it('refuses a wrong or missing Origin with 403 before onHandshake and accepts a listed one in any case', async () => {
    const rec = recorder();
    const started = await start(rec, { allowedOrigins: ['https://App.Example.com'] });
    for (const origin of ['https://evil.example.com', undefined]) {
      const error = await connect(`${started.url}?tag=bad`, origin === undefined ? {} : { origin }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(HandshakeRejected);
      expect((error as HandshakeRejected).status).toBe(403);
      expect((error as HandshakeRejected).body).toBe('Origin forbidden');
    }
    expect(rec.events).toEqual([]);
    const { client } = await wsClient(started, rec, 'good', { origin: 'https://app.example.COM' });
    client.ws.send('hi');
    expect((await client.nextMessage()).data.toString('utf8')).toBe('hi');
  });
});

describe('outbound backpressure (maxBufferedBytes, outboundOverflow)', () => {
  const CHUNK = Buffer.alloc(64 * 1024, 7);
  const LIMIT = 256 * 1024;
  const ATTEMPTS = 1000; // 64 MB if nothing pushed back

  /** Sends 64 KB messages to a peer that never reads until one send fails; counts the accepted ones. */
  async function flood(endpoint: Endpoint, id: number): Promise<{ accepted: number; failure: SendResult | null }> {
    let failure: SendResult | null = null;
    let accepted = 0;
    for (let k = 0; k < ATTEMPTS && failure === null; k++) {
      void endpoint.sendBinary(CHUNK, id).then((result) => {
        if (!result.ok) failure ??= result;
      });
      await new Promise((resolve) => setImmediate(resolve));
      if (failure === null) accepted++;
    }
    return { accepted, failure };
  }

  it("'close': closes a peer that does not read with 1008 and keeps the server's buffer bounded", async () => {
    const rec = recorder();
    const started = await start(rec, { maxBufferedBytes: LIMIT, outboundOverflow: 'close', closePeriodMs: 3000 });
    const { raw: peer, id } = await raw(started, rec, 'slow');
    peer.pauseReading();
    const { accepted, failure } = await flood(rec.endpoint(), id);
    expect(failure).toMatchObject({ ok: false, error: { code: 'WSA_ERR_BACKPRESSURE' } });
    // Bounded: the kernel's socket buffers plus maxBufferedBytes, far below the 64 MB tried.
    expect(accepted * CHUNK.length).toBeLessThan(16 * 1024 * 1024);
    expect(await rec.endpoint().sendBinary(CHUNK, id)).toMatchObject({ ok: false });
    peer.resumeReading();
    expect(await peer.closeFrame(5000)).toEqual({ code: 1008, reason: 'Slow consumer: outbound buffer limit exceeded' });
    expect(peer.frames.filter((f) => f.opcode === Opcode.BINARY).length).toBeLessThanOrEqual(accepted);
    peer.sendFrame({ opcode: Opcode.CLOSE, payload: closePayload(1008) });
    await peer.waitClosed();
    await waitFor(() => rec.closesOf(id).length === 1, 2000, 'onClose');
    expect(rec.closesOf(id)[0]).toMatchObject({ code: 1008, reason: 'Slow consumer: outbound buffer limit exceeded' });
    await expectEcho(started, rec, 'after-slow');
  });

  it("'fail': sends fail with WSA_ERR_BACKPRESSURE, the client stays open and others are unaffected", async () => {
    const rec = recorder();
    const started = await start(rec, { maxBufferedBytes: LIMIT, outboundOverflow: 'fail' });
    const { raw: peer, id } = await raw(started, rec, 'slow');
    peer.pauseReading();
    const { accepted, failure } = await flood(rec.endpoint(), id);
    expect(failure).toMatchObject({ ok: false, error: { code: 'WSA_ERR_BACKPRESSURE' } });
    expect(accepted * CHUNK.length).toBeLessThan(16 * 1024 * 1024);
    expect(await rec.endpoint().sendBinary(CHUNK, id)).toMatchObject({ ok: false, error: { code: 'WSA_ERR_BACKPRESSURE' } });
    await expectEcho(started, rec, 'other');
    expect(rec.endpoint().getLocalInfo(id)?.state).toBe('open');
    expect(rec.closesOf(id)).toEqual([]);
    // Once the peer reads, everything accepted arrives and sending works again.
    peer.resumeReading();
    await waitFor(() => peer.frames.length >= accepted, 5000, 'the accepted messages');
    expect(peer.frames.every((f) => f.opcode === Opcode.BINARY && f.payload.length === CHUNK.length)).toBe(true);
    expect(await rec.endpoint().send('again', id)).toEqual({ ok: true });
    await waitFor(() => peer.frames.at(-1)?.payload.toString('utf8') === 'again', 2000, 'the text frame');
    expect(peer.frames).toHaveLength(accepted + 1);
  });
});

describe('rate limits', () => {
  /** Ends one-second windows (reading resumes after each) until `done` holds. */
  async function advanceUntil(clock: FakeClock, done: () => boolean): Promise<void> {
    for (let window = 0; window < 5 && !done(); window++) {
      clock.advance(1000);
      await waitFor(done, 300, 'messages after the window').catch(() => undefined);
    }
    expect(done()).toBe(true);
  }

  /** Sends `count` messages one per `gapMs` (each in its own TCP segment). */
  async function paced(ws: WebSocket, count: number, make: (k: number) => string, gapMs = 3): Promise<void> {
    for (let k = 0; k < count; k++) {
      ws.send(make(k));
      await sleep(gapMs);
    }
  }

  it('maxMessagesPerSecond: reading pauses for the rest of the second once the limit is reached', async () => {
    const clock = new FakeClock();
    const rec = recorder({ echo: false });
    const started = await start(rec, { clock, maxMessagesPerSecond: 20 });
    const { client, id } = await wsClient(started, rec, 'paced');
    await paced(client.ws, 40, (k) => `m${k}`);
    await sleep(100);
    // 20, plus what a stalled event loop let pile up in the read that reached the limit.
    const first = rec.dataOf(id).length;
    expect(first).toBeGreaterThanOrEqual(20);
    expect(first).toBeLessThanOrEqual(30);
    await advanceUntil(clock, () => rec.dataOf(id).length === 40);
    expect(rec.dataOf(id)).toEqual(Array.from({ length: 40 }, (_, k) => `m${k}`));
    expect(rec.closesOf(id)).toEqual([]);
  });

  it('maxBytesPerSecond: reading pauses for the rest of the second once the limit is reached', async () => {
    const clock = new FakeClock();
    const rec = recorder({ echo: false });
    const started = await start(rec, { clock, maxBytesPerSecond: 1000 });
    const { client, id } = await wsClient(started, rec, 'paced-bytes', { perMessageDeflate: false });
    await paced(client.ws, 25, (k) => String(k).padStart(100, '.'));
    await sleep(100);
    const first = rec.dataOf(id).length;
    expect(first).toBeGreaterThanOrEqual(10);
    expect(first).toBeLessThanOrEqual(18);
    await advanceUntil(clock, () => rec.dataOf(id).length === 25);
    expect(rec.dataOf(id)).toEqual(Array.from({ length: 25 }, (_, k) => String(k).padStart(100, '.')));
    expect(rec.closesOf(id)).toEqual([]);
  });

  /** Sends `count` messages at once and returns when each was delivered (ms after the first send). */
  async function burst(options: ServerOptions, count: number, make: (k: number) => string): Promise<{ times: number[]; data: string[]; closes: number }> {
    const rec = recorder({ echo: false });
    const started = await start(rec, options);
    const { client, id } = await wsClient(started, rec, 'burst', { perMessageDeflate: false });
    const times: number[] = [];
    const began = Date.now();
    for (let k = 0; k < count; k++) client.ws.send(make(k));
    await waitFor(
      () => {
        while (times.length < rec.dataOf(id).length) times.push(Date.now() - began);
        return times.length === count;
      },
      6000,
      'every message',
    );
    return { times, data: rec.dataOf(id), closes: rec.closesOf(id).length };
  }

  // Rates are counted as messages go to onData, so a burst already read is spread out too.
  it('maxMessagesPerSecond 50: a burst of 120 messages takes >= 2 s to deliver, all in order, no close', async () => {
    const { times, data, closes } = await burst({ maxMessagesPerSecond: 50 }, 120, (k) => `m${k}`);
    expect(data).toEqual(Array.from({ length: 120 }, (_, k) => `m${k}`));
    expect(closes).toBe(0);
    expect(times.at(-1)).toBeGreaterThanOrEqual(1900);
  });

  it('maxBytesPerSecond 10000: a burst of 25 x 1000 bytes takes >= 2 s to deliver, all in order, no close', async () => {
    const make = (k: number): string => String(k).padStart(1000, '.');
    const { times, data, closes } = await burst({ maxBytesPerSecond: 10_000 }, 25, make);
    expect(data).toEqual(Array.from({ length: 25 }, (_, k) => make(k)));
    expect(closes).toBe(0);
    expect(times.at(-1)).toBeGreaterThanOrEqual(1900);
  });
});

describe('abrupt TCP reset', () => {
  it('reports onClose(1006) once when the peer drops in the middle of a frame, and the server stays up', async () => {
    const rec = recorder();
    const started = await start(rec, {});
    const { raw: peer, id } = await raw(started, rec, 'reset');
    peer.sendFrame({ opcode: Opcode.TEXT, payload: 'complete' });
    const half = frame({ opcode: Opcode.TEXT, payload: 'x'.repeat(200) });
    peer.send(half.subarray(0, 100));
    await waitFor(() => rec.dataOf(id).length === 1, 2000, 'the complete message');
    peer.reset();
    await waitFor(() => rec.closesOf(id).length > 0, 2000, 'onClose');
    await sleep(50);
    expect(rec.closesOf(id)).toEqual([{ hook: 'close', id, code: 1006, reason: '', dropped: 0 }]);
    expect(rec.dataOf(id)).toEqual(['complete']);
    await expectEcho(started, rec, 'after-reset');
  });
});

describe('perMessageDeflate', () => {
  /** Opens a `ws` client offering permessage-deflate; resolves with the negotiated header. */
  async function deflateClient(url: string): Promise<{ ws: WebSocket; extensions: string | undefined }> {
    const ws = new WebSocket(url, { perMessageDeflate: true });
    wsClients.push(ws);
    let extensions: string | undefined;
    ws.on('upgrade', (response) => {
      const header = response.headers['sec-websocket-extensions'];
      extensions = Array.isArray(header) ? header.join(', ') : header;
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return { ws, extensions };
  }

  async function roundTrip(ws: WebSocket, text: string): Promise<string> {
    const answer = new Promise<string>((resolve) => ws.once('message', (data: Buffer) => resolve(data.toString('utf8'))));
    ws.send(text);
    return answer;
  }

  const big = 'compress me please; '.repeat(10_000); // 200 000 bytes

  it('negotiates permessage-deflate when on, and large compressible messages round-trip compressed', async () => {
    const rec = recorder();
    const started = await start(rec, { perMessageDeflate: true });
    const { ws, extensions } = await deflateClient(`${started.url}?tag=deflate`);
    expect(extensions).toMatch(/^permessage-deflate/);
    expect(await roundTrip(ws, big)).toBe(big);
    const id = rec.idOf('deflate') as number;
    // What crossed the wire was a fraction of the 200 000 bytes, each way.
    expect(rec.endpoint().getLocalInfo(id)?.bytes_read).toBeLessThan(big.length / 10);
    expect(rec.endpoint().getLocalInfo(id)?.bytes_sent).toBeLessThan(big.length / 10);
  });

  it('does not negotiate it when off', async () => {
    const rec = recorder();
    const started = await start(rec, { perMessageDeflate: false });
    const { ws, extensions } = await deflateClient(`${started.url}?tag=plain`);
    expect(extensions).toBeUndefined();
    expect(await roundTrip(ws, big)).toBe(big);
    expect(rec.endpoint().getLocalInfo(rec.idOf('plain') as number)?.bytes_read).toBeGreaterThan(big.length);
  });
});
