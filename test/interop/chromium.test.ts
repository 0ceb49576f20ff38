/**
 * Interoperability with a real browser: Debian's headless Chromium (`/usr/bin/chromium`,
 * installed by `npm run setup`), driven by `playwright-core` (which never downloads a browser).
 * A node http server on 127.0.0.1 serves test/interop/browser/index.html; three wsactor
 * servers are attached to it:
 *   /ws      permessage-deflate on, this page's origin allowed, 2 MiB messages;
 *   /plain   defaults (no permessage-deflate);
 *   /strict  allowedOrigins excluding this page (handshake answered 403).
 * The page's own `WebSocket` runs each scenario; the tests assert on what the page saw AND on
 * the servers' hook traces.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../helpers/chromium.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClientInfo, Endpoint, HandshakeRequest, Message, Websocket } from '../../src/index.js';
import { startServer, waitFor, type StartedServer } from '../helpers/harness.js';
import { echoOrClose } from '../helpers/interop-app.js';

const PAGE = readFileSync(new URL('./browser/index.html', import.meta.url), 'utf8');
const MiB = 1024 * 1024;

interface Label {
  readonly case: string;
  readonly origin: string | undefined;
  readonly offeredExtensions: string | undefined;
}

type TraceEntry =
  | { readonly hook: 'onHandshake'; readonly label: Label }
  | { readonly hook: 'onOpen'; readonly id: number; readonly label: Label }
  | { readonly hook: 'onData'; readonly id: number; readonly binary: boolean; readonly size: number }
  | { readonly hook: 'onClose'; readonly id: number; readonly code: number; readonly reason: string; readonly info: ClientInfo | undefined };

/** Echoes text as text and binary as binary; `close:CODE:REASON` makes the server close. */
class InteropApp implements Websocket<Label> {
  readonly trace: TraceEntry[] = [];
  #endpoint: Endpoint | null = null;

  onStart(endpoint: Endpoint): void {
    this.#endpoint = endpoint;
  }

  onHandshake(request: HandshakeRequest): Label {
    const extensions = request.headers['sec-websocket-extensions'];
    const label: Label = {
      case: request.query.get('case') ?? '?',
      origin: request.origin,
      offeredExtensions: Array.isArray(extensions) ? extensions.join(', ') : extensions,
    };
    this.trace.push({ hook: 'onHandshake', label });
    return label;
  }

  onOpen(id: number, label: Label): void {
    this.trace.push({ hook: 'onOpen', id, label });
  }

  async onData(id: number, message: Message): Promise<void> {
    const endpoint = this.#endpoint as Endpoint;
    this.trace.push({ hook: 'onData', id, binary: message.isBinary, size: message.size });
    await echoOrClose(endpoint, id, message);
  }

  onClose(id: number, code: number, reason: string): void {
    this.trace.push({ hook: 'onClose', id, code, reason, info: this.#endpoint?.getLocalInfo(id) });
  }

  /** The one connection labelled `caseName`, once its onClose ran. */
  async connection(caseName: string) {
    const open = (): Extract<TraceEntry, { hook: 'onOpen' }> | undefined =>
      this.trace.find((e): e is Extract<TraceEntry, { hook: 'onOpen' }> => e.hook === 'onOpen' && e.label.case === caseName);
    await waitFor(() => {
      const id = open()?.id;
      return id !== undefined && this.trace.some((e) => e.hook === 'onClose' && e.id === id);
    }, 5000, `onClose of ${caseName}`);
    const { id, label } = open() as Extract<TraceEntry, { hook: 'onOpen' }>;
    const mine = this.trace.filter((e) => 'id' in e && e.id === id);
    return {
      id,
      label,
      hooks: mine.map((e) => e.hook),
      data: mine.filter((e): e is Extract<TraceEntry, { hook: 'onData' }> => e.hook === 'onData'),
      closes: mine.filter((e): e is Extract<TraceEntry, { hook: 'onClose' }> => e.hook === 'onClose'),
    };
  }
}

type Report = Record<string, unknown>;

describe('headless Chromium (the browser WebSocket)', () => {
  let http: HttpServer;
  let origin: string;
  let browser: Browser | undefined;
  let page: Page;
  const deflateApp = new InteropApp();
  const plainApp = new InteropApp();
  const strictApp = new InteropApp();
  const servers: StartedServer<Label>[] = [];

  /** Runs `window.interop[name]()` in the page. */
  const scenario = (name: string): Promise<Report> =>
    page.evaluate(
      (fn) => (globalThis as unknown as { interop: Record<string, () => Promise<Report>> }).interop[fn]?.() ?? Promise.reject(new Error(`no scenario ${fn}`)),
      name,
    );

  let setupError: Error | null = null;
  /** Setup failures (e.g. no Chromium) fail every test with their message. */
  const ready = (): void => {
    if (setupError !== null) throw setupError;
  };

  beforeAll(async () => {
    try {
      await setUp();
    } catch (error) {
      setupError = error instanceof Error ? error : new Error(String(error));
    }
  }, 30_000);

  async function setUp(): Promise<void> {
    http = createHttpServer((req, res) => {
      if (req.url === '/' || req.url === '/index.html') {
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' }).end(PAGE);
      } else {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('Not Found');
      }
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    servers.push(
      await startServer(deflateApp, {
        server: http,
        path: '/ws',
        perMessageDeflate: true,
        maxPayload: 2 * MiB,
        maxFrameSize: 2 * MiB,
        allowedOrigins: [origin],
      }),
      await startServer(plainApp, { server: http, path: '/plain' }),
      await startServer(strictApp, { server: http, path: '/strict', allowedOrigins: ['https://example.invalid'] }),
    );
    browser = await launchChromium();
    page = await browser.newPage();
    page.setDefaultTimeout(15_000);
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => (globalThis as unknown as { interop?: unknown }).interop !== undefined);
  }

  afterAll(async () => {
    await browser?.close();
    for (const started of servers) await started.server.stop();
    if (http !== undefined) await new Promise<void>((resolve) => http.close(() => resolve()));
  }, 20_000);

  it('echoes text, ArrayBuffer, typed array, Blob, empty and 1 MB messages; close 4000 "bye" reaches onClose', async () => {
    ready();
    const out = await scenario('echo');
    const same = (type: 'text' | 'binary', bytes: number) => ({
      sentType: type,
      receivedType: type,
      receivedClass: type === 'text' ? 'String' : 'ArrayBuffer',
      sentBytes: bytes,
      receivedBytes: bytes,
      same: true,
    });
    expect(out).toMatchObject({
      protocol: '',
      text: same('text', 28),
      arrayBuffer: same('binary', 256),
      typedArray: same('binary', 32),
      blob: same('binary', 100),
      emptyText: same('text', 0),
      emptyBinary: same('binary', 0),
      largeBinary: same('binary', 1_000_000),
      largeText: same('text', 1_000_000),
      bufferedAfter: 0,
      close: { code: 4000, reason: 'bye', wasClean: true },
      errors: 0,
    });
    const conn = await deflateApp.connection('echo');
    expect(conn.label.origin).toBe(origin);
    expect(conn.data.map((d) => [d.binary, d.size])).toEqual([
      [false, 28],
      [true, 256],
      [true, 32],
      [true, 100],
      [false, 0],
      [true, 0],
      [true, 1_000_000],
      [false, 1_000_000],
    ]);
    expect(conn.hooks.at(-1)).toBe('onClose');
    expect(conn.closes).toMatchObject([{ code: 4000, reason: 'bye' }]);
    expect(conn.closes[0]?.info).toMatchObject({ messages_read: 8, messages_sent: 8, close_code: 4000 });
  });

  it('receives a server close 4001 "bye"', async () => {
    ready();
    expect(await scenario('serverClose')).toEqual({
      close: { code: 4001, reason: 'bye', wasClean: true },
      messages: 0,
      errors: 0,
    });
    const conn = await deflateApp.connection('server-close');
    expect(conn.hooks).toEqual(['onOpen', 'onData', 'onClose']);
    expect(conn.closes).toMatchObject([{ code: 4001, reason: 'bye' }]);
  });

  it('negotiates permessage-deflate when the server enables it; compressible 100 KB is compressed on the wire', async () => {
    ready();
    const out = await scenario('deflate');
    expect(String(out.extensions)).toMatch(/^permessage-deflate\b/);
    expect(out.compressibleText).toMatchObject({ receivedType: 'text', receivedBytes: 100_000, same: true });
    expect(out.compressibleBinary).toMatchObject({ receivedType: 'binary', receivedBytes: 100_000, same: true });
    expect(out.close).toEqual({ code: 1000, reason: 'deflate done', wasClean: true });
    const conn = await deflateApp.connection('deflate');
    expect(conn.label.offeredExtensions).toMatch(/^permessage-deflate\b/);
    expect(conn.data.map((d) => d.size)).toEqual([100_000, 100_000]);
    expect(conn.closes[0]?.info?.bytes_read).toBeLessThan(20_000);
    expect(conn.closes[0]?.info?.bytes_sent).toBeLessThan(20_000);
  });

  it('negotiates no extension when the server leaves permessage-deflate off', async () => {
    ready();
    const out = await scenario('plain');
    expect(out).toMatchObject({
      extensions: '',
      text: { receivedType: 'text', receivedBytes: 11, same: true },
      close: { code: 1000, wasClean: true },
    });
    const conn = await plainApp.connection('plain');
    expect(conn.label.offeredExtensions).toMatch(/^permessage-deflate\b/); // offered, declined
    expect(conn.closes).toMatchObject([{ code: 1000 }]);
  });

  it('a page origin outside allowedOrigins never opens (403), and no hook runs', async () => {
    ready();
    expect(await scenario('forbidden')).toEqual({ opened: false, close: { code: 1006, reason: '', wasClean: false }, errors: 1 });
    expect(strictApp.trace).toEqual([]);
  });

  it('logged nothing on the server side', () => {
    ready();
    for (const started of servers) expect(started.logged).toEqual([]);
  });
});
