/**
 * Hand-made frames against a real server: every protocol violation closes the client with its
 * RFC 6455 code, sent in the server's close frame AND reported to `onClose`; messages received
 * before the bad frame still reach `onData` in order (C4); and the server keeps serving others.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Endpoint, type HandshakeRequest, type Message, type Websocket, type WsActorServer } from '../../src/index.js';
import { closed, connect, waitFor } from '../helpers/harness.js';
import { closePayload, frame, Opcode, rawUpgrade, Rsv, type CloseFrame, type FrameOptions, type RawClient } from '../helpers/raw-client.js';

const MAX_PAYLOAD = 1024;
const MAX_FRAME = 256;
const MAX_FRAGMENTS = 8;

type Trace = string[];

/** Echoes every message and records, per `?tag=`, open / data:<text> / close:<code>:<reason>. */
class RecordingEcho implements Websocket<string> {
  endpoint: Endpoint | null = null;
  readonly traces = new Map<string, Trace>();
  readonly ids = new Map<string, number>();
  readonly #tags = new Map<number, string>();

  onStart(endpoint: Endpoint): void {
    this.endpoint = endpoint;
  }

  onHandshake(request: HandshakeRequest): string {
    return request.query.get('tag') ?? '';
  }

  onOpen(clientId: number, tag: string): void {
    this.#tags.set(clientId, tag);
    this.ids.set(tag, clientId);
    this.#trace(clientId).push('open');
  }

  async onData(clientId: number, message: Message): Promise<void> {
    const data = await message.buffer();
    this.#trace(clientId).push(message.isBinary ? `binary:${data.length}` : `data:${data.toString('utf8')}`);
    const endpoint = this.endpoint as Endpoint;
    await (message.isBinary ? endpoint.sendBinary(data, clientId) : endpoint.send(data.toString('utf8'), clientId));
  }

  onClose(clientId: number, code: number, reason: string): void {
    this.#trace(clientId).push(`close:${code}:${reason}`);
  }

  #trace(clientId: number): Trace {
    const tag = this.#tags.get(clientId) ?? `#${clientId}`;
    let trace = this.traces.get(tag);
    if (trace === undefined) this.traces.set(tag, (trace = []));
    return trace;
  }
}

const app = new RecordingEcho();
let server: WsActorServer<string>;
let port = 0;
let tagCounter = 0;

beforeAll(async () => {
  server = createServer(app, {
    host: '127.0.0.1',
    port: 0,
    maxPayload: MAX_PAYLOAD,
    maxFrameSize: MAX_FRAME,
    maxFragments: MAX_FRAGMENTS,
    closePeriodMs: 500,
    logger: { error: () => undefined, warn: () => undefined },
  });
  await server.start();
  port = server.address()?.port ?? 0;
});

afterAll(async () => {
  await server.stop();
});

const text = (payload: Buffer | string, fin = true): Buffer => frame({ opcode: Opcode.TEXT, payload, fin });
const cont = (payload: Buffer | string, fin = true): Buffer => frame({ opcode: Opcode.CONTINUATION, payload, fin });
const close = (payload: Buffer | string): Buffer => frame({ opcode: Opcode.CLOSE, payload });

/** Opens a raw client tagged `tag` and waits until its onOpen ran. */
async function open(tag: string): Promise<RawClient> {
  const raw = await rawUpgrade(port, { path: `/?tag=${encodeURIComponent(tag)}` });
  await waitFor(() => app.traces.get(tag)?.includes('open') === true, 2000, `onOpen of ${tag}`);
  return raw;
}

/** Waits for the onClose of `tag` and returns its trace. */
async function traceAfterClose(tag: string): Promise<Trace> {
  await waitFor(() => app.traces.get(tag)?.some((e) => e.startsWith('close:')) === true, 3000, `onClose of ${tag}`);
  return app.traces.get(tag) ?? [];
}

/** A second, well-behaved `ws` client still gets its echo: the server stayed up. */
async function expectServerStillEchoes(): Promise<void> {
  const client = await connect(`ws://127.0.0.1:${port}/?tag=witness-${++tagCounter}`);
  client.ws.send('still there?');
  expect((await client.nextMessage()).data.toString('utf8')).toBe('still there?');
  client.ws.close();
  await closed(client);
}


interface Outcome {
  /** The server's close frame. */
  received: CloseFrame;
  /** The app's trace for this client, after its onClose. */
  trace: Trace;
}

/**
 * Sends `bytes` (each a separate write) on a fresh raw connection; returns the server's close
 * frame and the app's trace once the server ended the TCP connection and `onClose` ran.
 */
async function violate(tag: string, bytes: Buffer[]): Promise<Outcome> {
  const raw = await open(tag);
  for (const chunk of bytes) raw.send(chunk);
  const received = await raw.closeFrame();
  // The server stopped reading; it ends the TCP connection once its close frame is out.
  await raw.waitClosed(2000);
  return { received, trace: await traceAfterClose(tag) };
}

interface Violation {
  name: string;
  bytes: Buffer[];
  code: number;
  /** The reason of the server's close frame (`ws`'s message), when worth pinning. */
  reason?: string;
  /** Text of the messages `onData` must have received before onClose (C4). Default none. */
  delivered?: string[];
}


function fragments(count: number, size: number): Buffer[] {
  return Array.from({ length: count }, (_, k) =>
    frame({ opcode: k === 0 ? Opcode.BINARY : Opcode.CONTINUATION, fin: k === count - 1, payload: Buffer.alloc(size, k) }),
  );
}

/** One test for the wire and the server staying up, one for the code `onClose` got. */
function describeViolations(title: string, violations: Violation[]): void {
  describe(title, () => {
    for (const v of violations) {
      it(`${v.name}: close frame ${v.code}, one onClose, earlier messages delivered, server stays up`, async () => {
        const { received, trace } = await violate(`${v.name}`, v.bytes);
        expect(received.code).toBe(v.code);
        if (v.reason !== undefined) expect(received.reason).toBe(v.reason);
        const delivered = (v.delivered ?? []).map((m) => `data:${m}`);
        expect(trace.slice(0, -1)).toEqual(['open', ...delivered]);
        expect(trace.filter((e) => e.startsWith('close:'))).toHaveLength(1);
        expect(trace.at(-1)).toMatch(/^close:/);
        await expectServerStillEchoes();
      });
      it(`${v.name}: onClose(${v.code}) with the reason sent`, async () => {
        const { received, trace } = await violate(`${v.name} (onClose)`, v.bytes);
        expect(trace.at(-1)).toBe(`close:${v.code}:${received.reason}`);
      });
    }
  });
}

describe('limits at their exact values are accepted', () => {
  it('delivers a message of exactly maxPayload in frames of exactly maxFrameSize, and maxFragments fragments', async () => {
    const raw = await open('at-limits');
    raw.send(Buffer.concat(fragments(MAX_PAYLOAD / MAX_FRAME, MAX_FRAME)));
    raw.send(Buffer.concat(fragments(MAX_FRAGMENTS, 1)));
    // A valid UTF-8 sequence split across frames is fine: validation is per message.
    raw.send(text(Buffer.from([0x61, 0xe2, 0x82]), false), cont(Buffer.from([0xac])));
    await waitFor(() => (app.traces.get('at-limits')?.length ?? 0) >= 4, 2000, 'three messages');
    expect(app.traces.get('at-limits')).toEqual(['open', `binary:${MAX_PAYLOAD}`, `binary:${MAX_FRAGMENTS}`, 'data:a€']);
    raw.send(close(closePayload(1000)));
    expect(await raw.closeFrame()).toEqual({ code: 1000, reason: '' });
    await raw.waitClosed();
    expect((await traceAfterClose('at-limits')).at(-1)).toBe('close:1000:');
  });
});

describeViolations('1009: too big', [
  {
    name: 'a message over maxPayload, every frame within maxFrameSize',
    bytes: [Buffer.concat(fragments(6, 200))],
    code: 1009,
    reason: 'Max payload size exceeded',
  },
  {
    name: 'a single frame over maxFrameSize, under maxPayload',
    bytes: [frame({ opcode: Opcode.BINARY, payload: Buffer.alloc(MAX_FRAME + 1) })],
    code: 1009,
    reason: 'Max frame size exceeded',
  },
  {
    name: 'only the header of a frame over maxFrameSize (64-bit length)',
    bytes: [frame({ opcode: Opcode.TEXT, declaredLength: 100_000, lengthEncoding: 64 })],
    code: 1009,
    reason: 'Max frame size exceeded',
  },
  {
    name: 'a message of more than maxFragments frames',
    bytes: [Buffer.concat(fragments(MAX_FRAGMENTS + 1, 1))],
    code: 1009,
    reason: 'Too many message fragments',
  },
]);

describe('1009: a 64-bit length above 2^53 - 1', () => {
  const bytes = [frame({ opcode: Opcode.BINARY, declaredLength: 2n ** 60n, lengthEncoding: 64 })];
  it('gets 1009 on the wire and the server stays up', async () => {
    const { received, trace } = await violate('length over 2^53', bytes);
    expect(received.code).toBe(1009);
    expect(trace.filter((e) => e.startsWith('close:'))).toHaveLength(1);
    await expectServerStillEchoes();
  });
  it('reports onClose(1009)', async () => {
    const { trace } = await violate('length over 2^53 (onClose)', bytes);
    expect(trace.at(-1)).toMatch(/^close:1009:/);
  });
});

describeViolations('1007: invalid UTF-8', [
  { name: 'invalid UTF-8 in a text frame', bytes: [text(Buffer.from([0x68, 0x69, 0xff, 0x21]))], code: 1007 },
  {
    // "ab" | "c" E2 82 | 28 "d": E2 82 starts a 3-byte sequence that 28 cannot continue.
    name: 'a bad UTF-8 sequence straddling two continuation frames',
    bytes: [text('ab', false), cont(Buffer.from([0x63, 0xe2, 0x82]), false), cont(Buffer.from([0x28, 0x64]))],
    code: 1007,
    reason: 'Invalid WebSocket frame: invalid UTF-8 sequence',
  },
  { name: 'a close frame with an invalid UTF-8 reason', bytes: [close(closePayload(1000, Buffer.from([0xc3, 0x28])))], code: 1007 },
]);

const protocolErrors: [string, FrameOptions][] = [
  ['an unmasked client frame', { opcode: Opcode.TEXT, payload: 'hello', mask: false }],
  ['RSV1 set without a negotiated extension', { opcode: Opcode.TEXT, payload: 'hello', rsv: Rsv.RSV1 }],
  ['RSV2 and RSV3 set', { opcode: Opcode.BINARY, payload: 'hello', rsv: Rsv.RSV2 | Rsv.RSV3 }],
  ['reserved data opcode 0x3', { opcode: 0x3, payload: 'hello' }],
  ['reserved control opcode 0xB', { opcode: 0xb, payload: 'hello' }],
  ['a ping with a 126-byte payload (control frame > 125)', { opcode: Opcode.PING, payload: Buffer.alloc(126) }],
  ['a fragmented control frame (ping with FIN clear)', { opcode: Opcode.PING, payload: 'p', fin: false }],
  ['a continuation frame without a message start', { opcode: Opcode.CONTINUATION, payload: 'orphan' }],
  ['a 1-byte close payload', { opcode: Opcode.CLOSE, payload: Buffer.from([0x03]) }],
];

describeViolations('1002: protocol errors', [
  ...protocolErrors.map(([name, options]) => ({ name, bytes: [frame(options)], code: 1002 })),
  { name: 'a new data frame inside a fragmented message', bytes: [text('part', false), text('new')], code: 1002 },
  ...[0, 999, 1004, 1005, 1006, 1015, 5000].map((code) => ({
    name: `a close frame with the invalid code ${code}`,
    bytes: [close(closePayload(code, 'bad'))],
    code: 1002,
    reason: `Invalid WebSocket frame: invalid status code ${code}`,
  })),
]);

describeViolations('C4: messages received before the bad frame', [
  {
    name: 'three messages and a reserved opcode in one TCP write',
    bytes: [Buffer.concat([text('m1'), text('m2'), text('m3'), frame({ opcode: 0x3 })])],
    code: 1002,
    reason: 'Invalid WebSocket frame: invalid opcode 3',
    delivered: ['m1', 'm2', 'm3'],
  },
  {
    name: 'messages (one fragmented) in separate writes, then invalid UTF-8',
    bytes: [text('m1'), text('m', false), cont('2'), text('m3'), text(Buffer.from([0xff]))],
    code: 1007,
    delivered: ['m1', 'm2', 'm3'],
  },
]);

describe('valid close frames', () => {
  it('echoes a close with 4000 "x" and reports onClose(4000, "x")', async () => {
    const raw = await open('close-4000');
    raw.send(text('before'), close(closePayload(4000, 'x')));
    expect(await raw.closeFrame()).toEqual({ code: 4000, reason: 'x' });
    await raw.waitClosed();
    expect(await traceAfterClose('close-4000')).toEqual(['open', 'data:before', 'close:4000:x']);
    await expectServerStillEchoes();
  });

  it('answers an empty close frame with an empty one and reports onClose(1005, "")', async () => {
    const raw = await open('close-empty');
    raw.send(close(Buffer.alloc(0)));
    expect(await raw.closeFrame()).toEqual({ code: 1005, reason: '' });
    expect(raw.frames.at(-1)?.payload.length).toBe(0);
    await raw.waitClosed();
    expect(await traceAfterClose('close-empty')).toEqual(['open', 'close:1005:']);
    await expectServerStillEchoes();
  });
});
