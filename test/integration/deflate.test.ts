/**
 * permessage-deflate (RFC 7692) end to end, on raw sockets (the bytes and the RSV1 bit as they
 * cross the wire) and with a real client (Python `websockets`):
 *
 *  - negotiation: every valid offer gets a 101 and a valid answer, and messages round-trip on
 *    what was negotiated (the matrix below; invalid offers keep ws's 400, as documented);
 *  - the server's deflate window stays at most 2^13 whatever the client allows (memory bound);
 *  - `threshold`: smaller messages go out raw, others compressed, for send, broadcast and
 *    multicast alike, in per-client call order, and connections without deflate keep the raw
 *    fast path.
 */
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { constants as zc, createDeflateRaw, inflateRawSync, type DeflateRaw } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/errors.js';
import type { Endpoint, HandshakeRequest, Message, ServerOptions, Websocket } from '../../src/index.js';
import { resolveOptions } from '../../src/options.js';
import { startServer, waitFor, type StartedServer } from '../helpers/harness.js';
import { Opcode, Rsv, rawUpgrade, UpgradeFailed, type ParsedFrame, type RawClient } from '../helpers/raw-client.js';

const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

// ---- RFC 7692 offers and answers --------------------------------------------------------------

/** One permessage-deflate offer (RFC 7692 section 7.1), as a client would write it. */
interface Offer {
  serverNoContext: boolean;
  clientNoContext: boolean;
  /** server_max_window_bits=N. */
  serverBits: number | undefined;
  /** client_max_window_bits: absent, without a value (true) or =N. */
  clientBits: number | true | undefined;
}

function offerHeader(offer: Offer): string {
  const params = ['permessage-deflate'];
  if (offer.serverNoContext) params.push('server_no_context_takeover');
  if (offer.clientNoContext) params.push('client_no_context_takeover');
  if (offer.serverBits !== undefined) params.push(`server_max_window_bits=${offer.serverBits}`);
  if (offer.clientBits === true) params.push('client_max_window_bits');
  else if (offer.clientBits !== undefined) params.push(`client_max_window_bits=${offer.clientBits}`);
  return params.join('; ');
}

interface Extension {
  readonly name: string;
  readonly params: ReadonlyMap<string, string | true>;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Parses a Sec-WebSocket-Extensions value (RFC 6455 9.1); throws on what the grammar forbids. */
function parseExtensions(header: string): Extension[] {
  return header.split(',').map((element) => {
    const [name = '', ...rest] = element.split(';').map((s) => s.trim());
    if (!TOKEN.test(name)) throw new Error(`bad extension name ${JSON.stringify(name)}`);
    const params = new Map<string, string | true>();
    for (const param of rest) {
      const eq = param.indexOf('=');
      const key = (eq < 0 ? param : param.slice(0, eq)).trim();
      let value: string | true = eq < 0 ? true : param.slice(eq + 1).trim();
      if (typeof value === 'string' && /^".*"$/.test(value)) value = value.slice(1, -1);
      if (!TOKEN.test(key) || (value !== true && !TOKEN.test(value))) throw new Error(`bad parameter ${JSON.stringify(param)}`);
      if (params.has(key)) throw new Error(`parameter ${key} twice`);
      params.set(key, value);
    }
    return { name, params };
  });
}

/** What one side uses after the handshake. */
interface Negotiated {
  /** The server's deflate window as answered (the client inflates with it). */
  serverBits: number;
  serverNoContext: boolean;
  /** The window the client may deflate with. */
  clientBits: number;
  clientNoContext: boolean;
}

const windowBits = (value: string | true | undefined): number | null =>
  typeof value === 'string' && /^(8|9|1[0-5])$/.test(value) ? Number(value) : null;

/**
 * Checks `answer` as a server's answer to `offer` (RFC 7692 sections 5 and 7.1) and returns
 * what it agreed on; throws with the rule it breaks.
 */
function negotiated(offer: Offer, answer: string): Negotiated {
  const extensions = parseExtensions(answer);
  if (extensions.length !== 1 || extensions[0]?.name !== 'permessage-deflate') {
    throw new Error('the answer must hold exactly one permessage-deflate element');
  }
  const params = extensions[0].params;
  for (const key of params.keys()) {
    if (!['server_no_context_takeover', 'client_no_context_takeover', 'server_max_window_bits', 'client_max_window_bits'].includes(key)) {
      throw new Error(`unknown parameter ${key}`);
    }
  }
  for (const key of ['server_no_context_takeover', 'client_no_context_takeover']) {
    if (params.has(key) && params.get(key) !== true) throw new Error(`${key} must have no value`);
  }
  // 7.1.1.1: a server that receives server_no_context_takeover must answer with it.
  if (offer.serverNoContext && !params.has('server_no_context_takeover')) throw new Error('server_no_context_takeover dropped');
  // 7.1.2.1: server_max_window_bits 8..15; offered N: answered with a value <= N.
  const serverRaw = params.get('server_max_window_bits');
  const serverBits = windowBits(serverRaw);
  if (serverRaw !== undefined && serverBits === null) throw new Error(`bad server_max_window_bits ${String(serverRaw)}`);
  if (offer.serverBits !== undefined && (serverBits === null || serverBits > offer.serverBits)) {
    throw new Error(`server_max_window_bits must be answered with <= ${offer.serverBits}, got ${String(serverRaw)}`);
  }
  // 7.1.2.2: client_max_window_bits only if offered; with a value 8..15, <= the offered one.
  const clientRaw = params.get('client_max_window_bits');
  const clientBits = windowBits(clientRaw);
  if (clientRaw !== undefined) {
    if (offer.clientBits === undefined) throw new Error('client_max_window_bits answered but not offered');
    if (clientBits === null) throw new Error(`bad client_max_window_bits ${String(clientRaw)}`);
    if (typeof offer.clientBits === 'number' && clientBits > offer.clientBits) throw new Error('client_max_window_bits above the offer');
  }
  return {
    serverBits: serverBits ?? 15,
    serverNoContext: params.has('server_no_context_takeover'),
    clientBits: clientBits ?? (typeof offer.clientBits === 'number' ? offer.clientBits : 15),
    clientNoContext: params.has('client_no_context_takeover') || offer.clientNoContext,
  };
}

// ---- the client's side of compression ---------------------------------------------------------

/** The client's deflater: one raw DEFLATE stream, flushed per message (RFC 7692 7.2.1). */
class ClientDeflater {
  readonly #zlib: DeflateRaw;
  #chunks: Buffer[] = [];

  constructor(
    windowBits: number,
    private readonly noContext: boolean,
  ) {
    this.#zlib = createDeflateRaw({ windowBits });
    this.#zlib.on('data', (chunk: Buffer) => this.#chunks.push(chunk));
  }

  compress(data: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.#zlib.write(data);
      this.#zlib.flush(zc.Z_SYNC_FLUSH, () => {
        const out = Buffer.concat(this.#chunks);
        this.#chunks = [];
        if (this.noContext) this.#zlib.reset();
        // A sync flush ends with an empty stored block; RFC 7692 7.2.1 drops its 4 last bytes.
        if (out.subarray(-4).equals(TRAILER)) resolve(out.subarray(0, -4));
        else reject(new Error('deflate output does not end with 00 00 ff ff'));
      });
    });
  }

  close(): void {
    this.#zlib.close();
  }
}

/**
 * The client's inflater, with exactly the window the server announced: a server that used a
 * larger one (or its context after promising not to) makes inflation fail or differ.
 * Context takeover is done by inflating everything received so far again (simple, exact).
 */
class ClientInflater {
  #history: Buffer[] = [];
  #decoded = 0;

  constructor(
    private readonly windowBits: number,
    private readonly noContext: boolean,
  ) {}

  decompress(payload: Buffer): Buffer {
    const opts = { windowBits: this.windowBits, finishFlush: zc.Z_SYNC_FLUSH };
    if (this.noContext) return inflateRawSync(Buffer.concat([payload, TRAILER]), opts);
    this.#history.push(payload, TRAILER);
    const all = inflateRawSync(Buffer.concat(this.#history), opts);
    const message = all.subarray(this.#decoded);
    this.#decoded = all.length;
    return message;
  }
}

/** A data frame's payload as the application sees it: inflated when RSV1 is set. */
function payloadOf(frame: ParsedFrame, inflater: ClientInflater | null): Buffer {
  if ((frame.rsv & Rsv.RSV1) === 0) return frame.payload;
  if (inflater === null) throw new Error('RSV1 set on a connection without permessage-deflate');
  return inflater.decompress(frame.payload);
}

/** Deterministic text of `size` bytes from a small vocabulary: matches at every distance. */
function wordy(seed: number, size: number): string {
  let state = seed >>> 0 || 1;
  const next = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  const words: string[] = [];
  for (let i = 0; i < 300; i++) {
    const length = 2 + Math.floor(next() * 9);
    words.push(Array.from({ length }, () => String.fromCharCode(97 + Math.floor(next() * 26))).join(''));
  }
  let out = '';
  while (out.length < size) out += `${words[Math.floor(next() * words.length)]} `;
  return out.slice(0, size);
}

async function nextData(client: RawClient): Promise<ParsedFrame> {
  for (;;) {
    const frame = await client.nextFrame(5000);
    if (frame.opcode === Opcode.TEXT || frame.opcode === Opcode.BINARY) return frame;
    if (frame.opcode === Opcode.CLOSE) throw new Error(`closed: ${frame.payload.subarray(2).toString()}`);
  }
}

// ---- the server -------------------------------------------------------------------------------

/** Lines of JSON ticks: compressible at any window size (repeats within 60 bytes). */
function ticks(size: number): string {
  let out = '';
  for (let seq = 0; out.length < size; seq++) out += `{"type":"tick","symbol":"WSA","seq":${seq},"price":${(seq % 97) + 100.25}}\n`;
  return out.slice(0, size);
}

/**
 * Echoes every message (text as text, binary as binary); the text `broadcast:N` broadcasts
 * `ticks(N)` instead. Records opens, and each client's byte counters at its close.
 */
class EchoApp implements Websocket<string> {
  endpoint: Endpoint | null = null;
  readonly opened: { id: number; tag: string }[] = [];
  readonly closed = new Map<string, { read: number; sent: number }>();

  onStart(endpoint: Endpoint): void {
    this.endpoint = endpoint;
  }

  onHandshake(request: HandshakeRequest): string {
    return request.query.get('tag') ?? '';
  }

  onOpen(id: number, tag: string): void {
    this.opened.push({ id, tag });
  }

  async onData(id: number, message: Message): Promise<void> {
    const endpoint = this.endpoint as Endpoint;
    const data = await message.buffer();
    const command = message.isBinary ? null : /^broadcast:(\d+)$/.exec(data.toString());
    if (command !== null) await endpoint.broadcast(ticks(Number(command[1])));
    else if (message.isBinary) await endpoint.sendBinary(data, id);
    else await endpoint.send(data.toString('utf8'), id);
  }

  onClose(id: number): void {
    const info = this.endpoint?.getLocalInfo(id);
    if (info !== undefined) this.closed.set(this.tagOf(id), { read: info.bytes_read, sent: info.bytes_sent });
  }

  idOf(tag: string): number {
    const open = this.opened.find((o) => o.tag === tag);
    if (open === undefined) throw new Error(`no client ${tag}`);
    return open.id;
  }

  tagOf(id: number): string {
    return this.opened.find((o) => o.id === id)?.tag ?? '?';
  }
}

async function withServer<T>(options: ServerOptions, run: (started: StartedServer<string>, app: EchoApp) => Promise<T>): Promise<T> {
  const app = new EchoApp();
  const started = await startServer(app, options);
  try {
    return await run(started, app);
  } finally {
    await started.server.stop();
  }
}

/** Runs `tasks` with at most `limit` at once. */
async function pool<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array<T>(tasks.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await (tasks[index] as () => Promise<T>)();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

// ---- negotiation ------------------------------------------------------------------------------

/** The outcome of one offer: null when it passed, else what went wrong. */
async function tryOffer(port: number, header: string, offers: Offer[], threshold = 1024): Promise<string | null> {
  let client: RawClient;
  try {
    client = await rawUpgrade(port, { headers: { 'Sec-WebSocket-Extensions': header }, timeoutMs: 5000 });
  } catch (error) {
    return error instanceof UpgradeFailed ? `HTTP ${error.status}` : String(error);
  }
  let out: ClientDeflater | null = null;
  try {
    const answer = client.response.headers['sec-websocket-extensions'];
    if (answer === undefined) return 'declined (no Sec-WebSocket-Extensions in the 101)';
    // The answer must be a valid response to one of the offers (a server accepts one of them).
    let agreed: Negotiated | null = null;
    const problems: string[] = [];
    for (const offer of offers) {
      try {
        agreed = negotiated(offer, answer);
        break;
      } catch (error) {
        problems.push((error as Error).message);
      }
    }
    if (agreed === null) return `answer ${JSON.stringify(answer)} is invalid: ${problems.join('; ')}`;
    out = new ClientDeflater(agreed.clientBits, agreed.clientNoContext);
    const inflater = new ClientInflater(agreed.serverBits, agreed.serverNoContext);
    // Two compressed messages that share words (the second refers back into the first when
    // context takeover is on), then a small one sent uncompressed.
    const sent = [
      { opcode: Opcode.TEXT, data: Buffer.from(wordy(header.length * 7 + 1, 6000)), compress: true },
      { opcode: Opcode.BINARY, data: Buffer.from(wordy(header.length * 7 + 1, 6000).split(' ').reverse().join(' ')), compress: true },
      { opcode: Opcode.TEXT, data: Buffer.from('small'), compress: false },
    ];
    for (const m of sent) {
      const payload = m.compress ? await out.compress(m.data) : m.data;
      client.sendFrame({ opcode: m.opcode, rsv: m.compress ? Rsv.RSV1 : 0, payload });
    }
    for (const m of sent) {
      const frame = await nextData(client);
      if (frame.opcode !== m.opcode || !frame.fin) return `echo: opcode ${frame.opcode}, fin ${String(frame.fin)}`;
      const compressed = (frame.rsv & Rsv.RSV1) !== 0;
      if (compressed !== m.data.length >= threshold) return `echo of ${m.data.length} B: RSV1 ${String(compressed)}`;
      let data: Buffer;
      try {
        data = payloadOf(frame, inflater);
      } catch (error) {
        return `echo of ${m.data.length} B does not inflate with window ${agreed.serverBits}: ${(error as Error).message}`;
      }
      if (!data.equals(m.data)) return `echo of ${m.data.length} B differs`;
    }
    return null;
  } catch (error) {
    return String(error);
  } finally {
    out?.close();
    client.destroy();
  }
}

describe('permessage-deflate negotiation (RFC 7692) with perMessageDeflate: true', () => {
  let started: StartedServer<string>;
  beforeAll(async () => {
    started = await startServer(new EchoApp(), { perMessageDeflate: true });
  });
  afterAll(async () => {
    await started?.server.stop();
  });

  // client_max_window_bits: absent, without a value, =8..15.
  const clientBitsCases: (number | true | undefined)[] = [undefined, true, 8, 9, 10, 11, 12, 13, 14, 15];
  // server_max_window_bits: absent, =8..15.
  const serverBitsCases: (number | undefined)[] = [undefined, 8, 9, 10, 11, 12, 13, 14, 15];
  const matrix: Offer[] = [];
  for (const serverBits of serverBitsCases) {
    for (const clientBits of clientBitsCases) {
      for (const serverNoContext of [false, true]) {
        for (const clientNoContext of [false, true]) matrix.push({ serverBits, clientBits, serverNoContext, clientNoContext });
      }
    }
  }

  it(`accepts each of the ${matrix.length} single offers, answers validly, and messages round-trip compressed`, async () => {
    expect(matrix).toHaveLength(360);
    const outcomes = await pool(
      matrix.map((offer) => async () => ({ header: offerHeader(offer), problem: await tryOffer(started.port, offerHeader(offer), [offer]) })),
      12,
    );
    const failed = outcomes.filter((o) => o.problem !== null).map((o) => `${o.header} -> ${o.problem}`);
    expect(failed, `${failed.length} of ${matrix.length} offers failed`).toEqual([]);
  }, 120_000);

  const none: Offer = { serverNoContext: false, clientNoContext: false, serverBits: undefined, clientBits: undefined };
  const multi: { header: string; offers: Offer[] }[] = [
    // Several offers in one header, most preferred first (RFC 7692 5.1).
    {
      header: 'permessage-deflate; server_max_window_bits=10; client_max_window_bits, permessage-deflate; client_max_window_bits, permessage-deflate',
      offers: [{ ...none, serverBits: 10, clientBits: true }, { ...none, clientBits: true }, none],
    },
    {
      header: 'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8, permessage-deflate',
      offers: [{ serverNoContext: true, clientNoContext: true, serverBits: 8, clientBits: undefined }, none],
    },
    {
      header: 'permessage-deflate; client_max_window_bits=9, permessage-deflate; client_max_window_bits=15; server_max_window_bits=15',
      offers: [{ ...none, clientBits: 9 }, { ...none, clientBits: 15, serverBits: 15 }],
    },
    // Other extensions around it are ignored.
    { header: 'x-webkit-deflate-frame, permessage-deflate; client_max_window_bits', offers: [{ ...none, clientBits: true }] },
    { header: 'permessage-deflate; server_max_window_bits=12, x-unknown; foo=bar', offers: [{ ...none, serverBits: 12 }] },
    // Two header lines (joined into one list).
    {
      header: 'permessage-deflate; server_max_window_bits=11\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits',
      offers: [{ ...none, serverBits: 11 }, { ...none, clientBits: true }],
    },
    // Quoted values (RFC 7692 7.1.2.1 allows the quoted-string form) and odd spacing.
    {
      header: 'permessage-deflate;client_max_window_bits="10" ;  server_max_window_bits="11"',
      offers: [{ ...none, clientBits: 10, serverBits: 11 }],
    },
    {
      header: 'permessage-deflate; client_max_window_bits=12; server_no_context_takeover; server_max_window_bits=9; client_no_context_takeover',
      offers: [{ serverNoContext: true, clientNoContext: true, serverBits: 9, clientBits: 12 }],
    },
  ];

  it(`accepts one of several offers in one header (${multi.length} headers), answering validly`, async () => {
    const failed: string[] = [];
    for (const { header, offers } of multi) {
      const problem = await tryOffer(started.port, header, offers);
      if (problem !== null) failed.push(`${header} -> ${problem}`);
    }
    expect(failed).toEqual([]);
  });

  it('keeps ws\'s 400 for invalid offers (bad values, duplicate or unknown parameters), as documented', async () => {
    for (const header of [
      'permessage-deflate; server_max_window_bits=16',
      'permessage-deflate; server_max_window_bits=7',
      'permessage-deflate; client_max_window_bits=010x',
      'permessage-deflate; server_max_window_bits',
      'permessage-deflate; server_no_context_takeover=1',
      'permessage-deflate; server_max_window_bits=10; server_max_window_bits=10',
      'permessage-deflate; foo',
    ]) {
      expect(await tryOffer(started.port, header, []), header).toBe('HTTP 400');
    }
  });

  it('answers no extension at all when perMessageDeflate is off, and messages go uncompressed', async () => {
    await withServer({ perMessageDeflate: false }, async ({ port }) => {
      for (const header of ['permessage-deflate', 'permessage-deflate; server_max_window_bits=8; client_max_window_bits']) {
        const client = await rawUpgrade(port, { headers: { 'Sec-WebSocket-Extensions': header } });
        expect(client.response.headers['sec-websocket-extensions']).toBeUndefined();
        const text = wordy(5, 3000);
        client.sendFrame({ opcode: Opcode.TEXT, payload: text });
        const frame = await nextData(client);
        expect(frame.rsv).toBe(0);
        expect(frame.payload.toString()).toBe(text);
        client.destroy();
      }
    });
  });
});

// ---- memory bound -----------------------------------------------------------------------------

describe('the server deflate window', () => {
  /** 10,000 random bytes twice: the second copy is only found by a window of more than 2^13. */
  const twice = (): Buffer => {
    const half = Buffer.from(wordy(99, 40_000)).subarray(0, 10_000).map((b, i) => (b * 31 + i * 17) & 0xff);
    return Buffer.concat([half, half]);
  };

  for (const header of ['permessage-deflate; client_max_window_bits', 'permessage-deflate; server_max_window_bits=15', 'permessage-deflate']) {
    it(`is at most 2^13 even when the client allows 2^15 (${header})`, async () => {
      await withServer({ perMessageDeflate: true }, async ({ port }) => {
        const client = await rawUpgrade(port, { headers: { 'Sec-WebSocket-Extensions': header } });
        try {
          const payload = twice();
          client.sendFrame({ opcode: Opcode.BINARY, payload });
          const frame = await nextData(client);
          expect(frame.rsv & Rsv.RSV1).toBe(Rsv.RSV1);
          // With a 2^15 window the second half would be one back-reference (~10 KB in all).
          expect(frame.payload.length).toBeGreaterThan(19_000);
          // And a 2^13 inflater decodes it: no distance beyond its window.
          expect(new ClientInflater(13, true).decompress(frame.payload).equals(payload)).toBe(true);
        } finally {
          client.destroy();
        }
      });
    });
  }

  it('honours a requested window of 2^8 (zlib works with 2^9 there, whose distances stay below 256)', async () => {
    await withServer({ perMessageDeflate: true }, async ({ port }) => {
      const client = await rawUpgrade(port, { headers: { 'Sec-WebSocket-Extensions': 'permessage-deflate; server_max_window_bits=8' } });
      expect(client.response.headers['sec-websocket-extensions']).toBe('permessage-deflate; server_max_window_bits=8');
      const inflater = new ClientInflater(8, false);
      for (let k = 0; k < 5; k++) {
        const text = wordy(k + 1, 20_000);
        client.sendFrame({ opcode: Opcode.TEXT, payload: text });
        const frame = await nextData(client);
        expect(frame.rsv & Rsv.RSV1).toBe(Rsv.RSV1);
        expect(frame.payload.length).toBeLessThan(text.length);
        expect(inflater.decompress(frame.payload).toString()).toBe(text);
      }
      client.destroy();
    });
  });
});

// ---- threshold, broadcast, multicast ----------------------------------------------------------

type Op = 'send' | 'broadcast' | 'multicast';

interface Peer {
  readonly tag: string;
  readonly client: RawClient;
  readonly inflater: ClientInflater | null;
  id: number;
}

async function peers(port: number, app: EchoApp, shapes: readonly { tag: string; offer: Offer | null }[]): Promise<Peer[]> {
  const out: Peer[] = [];
  for (const { tag, offer } of shapes) {
    const headers: Record<string, string> = offer === null ? {} : { 'Sec-WebSocket-Extensions': offerHeader(offer) };
    const client = await rawUpgrade(port, { path: `/?tag=${tag}`, headers });
    const answer = client.response.headers['sec-websocket-extensions'];
    expect(answer === undefined, tag).toBe(offer === null);
    const agreed = offer === null || answer === undefined ? null : negotiated(offer, answer);
    out.push({ tag, client, inflater: agreed === null ? null : new ClientInflater(agreed.serverBits, agreed.serverNoContext), id: -1 });
  }
  await waitFor(() => app.opened.length === shapes.length, 2000, 'every onOpen');
  for (const p of out) p.id = app.idOf(p.tag);
  return out;
}

/** Sends `text` to every peer through `op`; resolves once the server reported it sent. */
async function deliver(endpoint: Endpoint, op: Op, text: string, targets: Peer[]): Promise<void> {
  if (op === 'send') {
    for (const p of targets) expect((await endpoint.send(text, p.id)).ok).toBe(true);
  } else {
    const result = op === 'broadcast' ? await endpoint.broadcast(text) : await endpoint.multicast(text, targets.map((p) => p.id));
    expect(result.failed).toEqual([]);
  }
}

const NO_PARAMS: Offer = { serverNoContext: false, clientNoContext: false, serverBits: undefined, clientBits: undefined };
const SHAPES = [
  // What ws's own client offers; before the fix the threshold applied to neither of these.
  { tag: 'deflate', offer: { ...NO_PARAMS, clientBits: true } },
  // Where ws applied the threshold already (server_no_context_takeover).
  { tag: 'deflate-no-context', offer: { ...NO_PARAMS, serverNoContext: true } },
  { tag: 'plain', offer: null },
] as const;

describe('perMessageDeflate.threshold', () => {
  it('accepts 0 (compress every message) and rejects negative or fractional values', () => {
    expect(resolveOptions({ perMessageDeflate: { threshold: 0 } }).perMessageDeflate).toEqual({ threshold: 0, concurrencyLimit: 10 });
    for (const threshold of [-1, 1.5, Number.NaN, '10']) {
      expect(() => resolveOptions({ perMessageDeflate: { threshold: threshold as number } })).toThrow(InvalidOptionError);
    }
    expect(() => resolveOptions({ perMessageDeflate: { threshold: -1 } })).toThrow('Option "perMessageDeflate.threshold" must be a non-negative integer, got -1');
  });

  for (const op of ['send', 'broadcast', 'multicast'] as const) {
    it(`threshold 1000, ${op}: 500 B go out raw, 2000 B compressed (RSV1), plain clients always raw`, async () => {
      await withServer({ perMessageDeflate: { threshold: 1000 } }, async ({ port }, app) => {
        const all = await peers(port, app, SHAPES);
        for (const [size, compressed] of [
          [500, false],
          [999, false],
          [1000, true],
          [2000, true],
          [5000, true],
        ] as const) {
          const text = wordy(size, size);
          await deliver(app.endpoint as Endpoint, op, text, all);
          for (const p of all) {
            const frame = await nextData(p.client);
            expect((frame.rsv & Rsv.RSV1) !== 0, `${p.tag} ${size} B`).toBe(compressed && p.inflater !== null);
            expect(payloadOf(frame, p.inflater).toString(), `${p.tag} ${size} B`).toBe(text);
          }
        }
        for (const p of all) p.client.destroy();
      });
    });

    it(`threshold 0, ${op}: every message is compressed, empty ones too`, async () => {
      await withServer({ perMessageDeflate: { threshold: 0 } }, async ({ port }, app) => {
        const all = await peers(port, app, SHAPES);
        for (const size of [0, 1, 500, 2000]) {
          const text = wordy(size + 3, size);
          await deliver(app.endpoint as Endpoint, op, text, all);
          for (const p of all) {
            const frame = await nextData(p.client);
            expect((frame.rsv & Rsv.RSV1) !== 0, `${p.tag} ${size} B`).toBe(p.inflater !== null);
            expect(payloadOf(frame, p.inflater).toString(), `${p.tag} ${size} B`).toBe(text);
          }
        }
        for (const p of all) p.client.destroy();
      });
    });
  }

  it('writes a coalesced batch of broadcasts in order: raw frames up to the first to compress, the rest through ws', async () => {
    await withServer({ perMessageDeflate: { threshold: 1000 } }, async ({ port }, app) => {
      const all = await peers(port, app, SHAPES);
      const endpoint = app.endpoint as Endpoint;
      // The first broadcast is written through; the next ones, called in the same turn, wait
      // for the outbox and go out together, while every ws sender is idle.
      const sizes = [10, 20, 2000, 30, 3000, 40, 50];
      const texts = sizes.map((size, k) => `${k}:${wordy(k + 11, size)}`);
      const results = await Promise.all(texts.map((text) => endpoint.broadcast(text)));
      for (const r of results) expect(r.failed).toEqual([]);
      for (const p of all) {
        for (const [k, text] of texts.entries()) {
          const frame = await nextData(p.client);
          expect((frame.rsv & Rsv.RSV1) !== 0, `${p.tag} #${k}`).toBe(p.inflater !== null && Buffer.byteLength(text) >= 1000);
          expect(payloadOf(frame, p.inflater).toString(), `${p.tag} #${k}`).toBe(text);
        }
      }
      for (const p of all) p.client.destroy();
    });
  });

  it('keeps per-client call order across sends, broadcasts and multicasts, compressed or not, also while broadcasts are coalesced', async () => {
    await withServer({ perMessageDeflate: { threshold: 100 } }, async ({ port }, app) => {
      const all = await peers(port, app, SHAPES);
      const endpoint = app.endpoint as Endpoint;
      const expected = new Map<Peer, string[]>(all.map((p) => [p, []]));
      const pending: Promise<unknown>[] = [];
      for (let k = 0; k < 400; k++) {
        const text = `${k}:${wordy(k + 1, [10, 99, 100, 3000][k % 4] as number)}`;
        const op = (['send', 'broadcast', 'multicast'] as const)[k % 3] as Op;
        const targets = op === 'broadcast' ? all : all.filter((_, i) => (k + i) % 2 === 0);
        if (op === 'send') for (const p of targets) pending.push(endpoint.send(text, p.id));
        else if (op === 'broadcast') pending.push(endpoint.broadcast(text));
        else pending.push(endpoint.multicast(text, targets.map((p) => p.id)));
        for (const p of targets) expected.get(p)?.push(text);
        // Yield now and then: broadcasts that follow closely are deferred by the outbox.
        if (k % 5 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      await Promise.all(pending);
      for (const p of all) {
        const want = expected.get(p) as string[];
        const got: string[] = [];
        for (let i = 0; i < want.length; i++) {
          const frame = await nextData(p.client);
          const text = payloadOf(frame, p.inflater).toString();
          expect((frame.rsv & Rsv.RSV1) !== 0, `${p.tag} #${i}`).toBe(p.inflater !== null && Buffer.byteLength(text) >= 100);
          got.push(text);
        }
        expect(got, p.tag).toEqual(want);
        expect(endpoint.getLocalInfo(p.id)?.messages_sent).toBe(want.length);
      }
      for (const p of all) p.client.destroy();
    });
  });
});

// ---- a real client: Python websockets ---------------------------------------------------------

const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('../interop/clients/websockets_deflate_shapes.py', import.meta.url));

interface ShapeReport {
  readonly offer?: string;
  readonly answer?: string;
  readonly extensions?: Record<string, unknown>[];
  readonly roundtrips?: boolean[];
  /** sha256 of the broadcast received. */
  readonly broadcast?: string;
  readonly error?: string;
}

const BROADCAST_SIZE = 60_000;

describe('python websockets with different permessage-deflate settings', () => {
  let app: EchoApp;
  let started: StartedServer<string> | null = null;
  let report: Record<string, ShapeReport> = {};
  let setupError: Error | null = null;

  beforeAll(async () => {
    try {
      const check = spawnSync(PYTHON, ['-c', 'import websockets.client'], { encoding: 'utf8', timeout: 15_000 });
      if (check.status !== 0) throw new Error(`${PYTHON} cannot import websockets: run \`npm run setup\` (python3-websockets)`);
      app = new EchoApp();
      const server = await startServer(app, { perMessageDeflate: true, maxPayload: 4 * 1024 * 1024, maxFrameSize: 4 * 1024 * 1024 });
      started = server;
      report = await new Promise((resolve, reject) => {
        const env = { ...process.env, PYTHONDONTWRITEBYTECODE: '1' };
        execFile(PYTHON, [SCRIPT, server.url, String(BROADCAST_SIZE)], { timeout: 60_000, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8', env }, (error, stdout, stderr) => {
          if (error !== null) reject(new Error(`${error.message}\n${stdout}\n${stderr}`));
          else resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as Record<string, ShapeReport>);
        });
      });
      await waitFor(() => app.closed.size === Object.keys(report).length, 5000, 'every onClose');
    } catch (error) {
      setupError = error instanceof Error ? error : new Error(String(error));
    }
  }, 90_000);

  afterAll(async () => {
    await started?.server.stop();
  });

  // What each shape of the script must end up with: the server's window (remote), the
  // client's (local), and the no_context_takeover flags.
  const shapes: Record<string, { server: number; client: number; serverNoContext: boolean; clientNoContext: boolean }> = {
    default: { server: 15, client: 15, serverNoContext: false, clientNoContext: false },
    noClientMaxWindowBits: { server: 15, client: 15, serverNoContext: false, clientNoContext: false },
    serverWindow8: { server: 8, client: 15, serverNoContext: false, clientNoContext: false },
    serverWindow10: { server: 10, client: 15, serverNoContext: false, clientNoContext: false },
    serverWindow12: { server: 12, client: 15, serverNoContext: false, clientNoContext: false },
    serverWindow15: { server: 15, client: 15, serverNoContext: false, clientNoContext: false },
    clientWindow9: { server: 15, client: 9, serverNoContext: false, clientNoContext: false },
    noContextTakeover: { server: 15, client: 15, serverNoContext: true, clientNoContext: true },
    everything: { server: 9, client: 11, serverNoContext: true, clientNoContext: true },
    twoOffers: { server: 10, client: 15, serverNoContext: false, clientNoContext: false },
  };

  it('has a report for each shape, without a client-side exception', () => {
    if (setupError !== null) throw setupError;
    expect(Object.keys(report).sort()).toEqual(Object.keys(shapes).sort());
    for (const [name, r] of Object.entries(report)) expect(r.error, name).toBeUndefined();
  });

  for (const [name, want] of Object.entries(shapes)) {
    it(`${name}: negotiated as offered; round trips and a broadcast work, compressed on the wire`, () => {
      if (setupError !== null) throw setupError;
      const r = report[name] as ShapeReport;
      expect(r.error, r.offer).toBeUndefined();
      expect(r.answer, r.offer).toMatch(/^permessage-deflate\b/);
      expect(r.extensions).toEqual([
        {
          name: 'permessage-deflate',
          remote_max_window_bits: want.server,
          local_max_window_bits: want.client,
          remote_no_context_takeover: want.serverNoContext,
          local_no_context_takeover: want.clientNoContext,
        },
      ]);
      expect(r.roundtrips).toEqual([true, true, true]);
      expect(r.broadcast).toBe(createHash('sha256').update(ticks(BROADCAST_SIZE)).digest('hex'));
      // 2 × 60 KB each way plus a 60 KB broadcast: far fewer bytes crossed the socket.
      const bytes = app.closed.get(name);
      expect(bytes?.read, 'bytes read').toBeLessThan(30_000);
      expect(bytes?.sent, 'bytes sent').toBeLessThan(45_000);
    });
  }
});
