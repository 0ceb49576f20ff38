/**
 * The `tls` option: a standalone wss:// server with a certificate made for the test by
 * Debian's `openssl` (test/helpers/tls-certs.ts). Real clients connect over TLS: Python's
 * `websockets` (verifying the certificate and host name against it), headless Chromium
 * (`--ignore-certificate-errors`, as a self-signed certificate needs) and Node's `ws`.
 * Clients that do not speak TLS (a plain HTTP request, a ws:// client, a raw TCP socket)
 * are closed without crashing or logging, and the server keeps serving; `reloadTls` swaps
 * the certificate for new connections while open ones keep going.
 */
import { execFile } from 'node:child_process';
import { get as httpGet } from 'node:http';
import { connect as netConnect } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../helpers/chromium.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes, InvalidOptionError, ServerStateError } from '../../src/errors.js';
import type { Endpoint, Message, Websocket } from '../../src/index.js';
import { closed, connect, startServer, waitFor, type StartedServer } from '../helpers/harness.js';
import { echoOrClose } from '../helpers/interop-app.js';
import { servedFingerprint, testCerts, type TestCert, type TestCerts } from '../helpers/tls-certs.js';

const PYTHON = '/usr/bin/python3';
const WSS_CLIENT = fileURLToPath(new URL('./clients/wss_client.py', import.meta.url));

/** Echoes; records opens and closes with the `case` of the query. */
class EchoApp implements Websocket<string> {
  readonly opened: string[] = [];
  readonly closes: { case: string; code: number }[] = [];
  readonly #cases = new Map<number, string>();
  #endpoint: Endpoint | null = null;

  onStart(endpoint: Endpoint): void {
    this.#endpoint = endpoint;
  }

  onHandshake(request: { query: URLSearchParams }): string {
    return request.query.get('case') ?? '?';
  }

  onOpen(id: number, label: string): void {
    this.#cases.set(id, label);
    this.opened.push(label);
  }

  async onData(id: number, message: Message): Promise<void> {
    await echoOrClose(this.#endpoint as Endpoint, id, message);
  }

  onClose(id: number, code: number): void {
    this.closes.push({ case: this.#cases.get(id) ?? '?', code });
  }
}

/** A raw TCP client that writes `bytes`; resolves with what came back once the server closed the socket. */
function rawExchange(port: number, bytes: string, timeoutMs = 5000): Promise<{ received: Buffer; closedByServer: boolean; ms: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const chunks: Buffer[] = [];
    const socket = netConnect(port, '127.0.0.1', () => {
      if (bytes !== '') socket.write(bytes);
    });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ received: Buffer.concat(chunks), closedByServer: false, ms: Date.now() - started });
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ received: Buffer.concat(chunks), closedByServer: true, ms: Date.now() - started });
    });
  });
}

function runPython(url: string, cafile: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    execFile(PYTHON, [WSS_CLIENT, url, cafile], { timeout: 30_000, encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } }, (error, stdout, stderr) => {
      if (error !== null) {
        reject(new Error(`wss_client.py failed: ${error.message}\nstdout: ${stdout}\nstderr: ${stderr}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as Record<string, unknown>);
      } catch {
        reject(new Error(`wss_client.py printed no JSON line\nstdout: ${stdout}\nstderr: ${stderr}`));
      }
    });
  });
}

describe('tls option: a standalone wss:// server', () => {
  let certs: TestCerts;
  let first: TestCert;
  let second: TestCert;
  const app = new EchoApp();
  let started: StartedServer<string>;
  let wss: string;

  beforeAll(async () => {
    certs = testCerts();
    first = certs.make('wsactor-test-first');
    second = certs.make('wsactor-test-second');
    started = await startServer(app, { tls: { cert: first.cert, key: first.key }, handshakeTimeoutMs: 2000 });
    wss = `wss://127.0.0.1:${started.port}/`;
  }, 30_000);

  afterAll(async () => {
    await started?.server.stop();
    certs?.remove();
  });

  it('serves wss:// to a ws client that trusts the certificate; the server shows it', async () => {
    const client = await connect(`${wss}?case=node`, { ca: first.cert });
    client.ws.send('over tls');
    expect((await client.nextMessage()).data.toString()).toBe('over tls');
    client.ws.close(1000);
    expect(await closed(client)).toMatchObject({ code: 1000 });
    expect(await servedFingerprint(started.port, first.cert)).toBe(first.fingerprint256);
    // Not trusted: the client refuses the handshake, the server goes on.
    await expect(connect(`${wss}?case=untrusted`)).rejects.toThrow(/self-signed certificate/);
  });

  it('Python websockets verifies the certificate and host name, echoes text and binary, closes 1000', async () => {
    const out = await runPython(wss, first.certFile);
    expect(out).toMatchObject({
      tlsVersion: 'TLSv1.3',
      fingerprint256: first.fingerprint256,
      text: 'hello over tls',
      binary: { type: 'binary', size: 1024, same: true },
      close: { code: 1000, reason: 'done' },
    });
    expect(String(out.untrusted)).toMatch(/^refused: self[- ]signed certificate/);
    await waitFor(() => app.closes.some((c) => c.case === 'wss' && c.code === 1000), 5000, 'onClose of the python client');
  });

  it('headless Chromium (--ignore-certificate-errors) echoes over wss://', async () => {
    const browser: Browser = await launchChromium(['--ignore-certificate-errors']);
    try {
      const page = await browser.newPage();
      const out = await page.evaluate(async (url) => {
        const ws = new WebSocket(url);
        ws.binaryType = 'arraybuffer';
        const messages: unknown[] = [];
        const next = () => new Promise<unknown>((resolve, reject) => {
          ws.onmessage = (event: MessageEvent) => resolve(typeof event.data === 'string' ? event.data : (event.data as ArrayBuffer).byteLength);
          ws.onerror = () => reject(new Error('websocket error'));
        });
        await new Promise<void>((resolve, reject) => {
          ws.onopen = () => resolve();
          ws.onerror = () => reject(new Error('could not open'));
        });
        ws.send('hello from chromium');
        messages.push(await next());
        ws.send(new Uint8Array(3000));
        messages.push(await next());
        const close = new Promise<{ code: number; wasClean: boolean }>((resolve) => (ws.onclose = (event) => resolve({ code: event.code, wasClean: event.wasClean })));
        ws.close(1000, 'bye');
        return { messages, close: await close };
      }, `${wss}?case=chromium`);
      expect(out).toEqual({ messages: ['hello from chromium', 3000], close: { code: 1000, wasClean: true } });
      await waitFor(() => app.closes.some((c) => c.case === 'chromium' && c.code === 1000), 5000, 'onClose of the browser');
    } finally {
      await browser.close();
    }
  }, 40_000);

  it('a plain HTTP request, a ws:// client and raw plaintext are closed cleanly; nothing is logged and wss:// keeps serving', async () => {
    const plainHttp = await new Promise<string>((resolve) => {
      const req = httpGet(`http://127.0.0.1:${started.port}/`, (res) => resolve(`answered ${res.statusCode}`));
      req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    });
    expect(['ECONNRESET', 'EPIPE']).toContain(plainHttp);
    await expect(connect(`ws://127.0.0.1:${started.port}/?case=plain-ws`)).rejects.toThrow(/socket hang up|ECONNRESET/);
    const upgrade = 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
    const raw = await rawExchange(started.port, upgrade);
    expect(raw.closedByServer).toBe(true);
    // No HTTP answer in plaintext (at most a TLS alert record, which starts with 0x15).
    expect(raw.received.length === 0 || raw.received[0] === 0x15).toBe(true);
    expect(app.opened).not.toContain('plain-ws');
    expect(started.logged).toEqual([]);
    const client = await connect(`${wss}?case=after-plain`, { ca: first.cert });
    client.ws.send('still here');
    expect((await client.nextMessage()).data.toString()).toBe('still here');
    client.ws.close();
    await closed(client);
    expect(started.server.state).toBe('running');
  });

  it('a TCP client that never starts the TLS handshake is dropped at handshakeTimeoutMs', async () => {
    const silent = await rawExchange(started.port, '', 8000);
    expect(silent.closedByServer).toBe(true);
    expect(silent.ms).toBeGreaterThanOrEqual(1500);
    expect(silent.ms).toBeLessThan(6000);
    expect(started.logged).toEqual([]);
  });

  it('reloadTls swaps the certificate without a restart: new connections see the new one, open ones keep going', async () => {
    const open = await connect(`${wss}?case=before-reload`, { ca: first.cert });
    expect((open.ws as unknown as { _socket: TLSSocket })._socket.getPeerCertificate().fingerprint256).toBe(first.fingerprint256);

    started.server.reloadTls({ cert: second.cert, key: second.key });
    expect(await servedFingerprint(started.port, second.cert)).toBe(second.fingerprint256);
    const fresh = await connect(`${wss}?case=after-reload`, { ca: second.cert });
    expect((fresh.ws as unknown as { _socket: TLSSocket })._socket.getPeerCertificate().fingerprint256).toBe(second.fingerprint256);
    // The connection made before the reload still works.
    open.ws.send('old cert still fine');
    expect((await open.nextMessage()).data.toString()).toBe('old cert still fine');
    fresh.ws.send('new cert');
    expect((await fresh.nextMessage()).data.toString()).toBe('new cert');

    // A bad reload throws and keeps the current certificate.
    expect(() => started.server.reloadTls({ cert: first.cert, key: second.key })).toThrow(InvalidOptionError);
    expect(() => started.server.reloadTls({ cert: first.cert, key: second.key })).toThrow(/^Option "tls" cannot make a TLS context: /);
    expect(() => started.server.reloadTls({ cert: second.cert, key: second.key, requestCert: true })).toThrow(
      'Option "tls.requestCert" cannot change without a restart (reloadTls replaces the certificate, key and the rest of the TLS context only)',
    );
    expect(await servedFingerprint(started.port, second.cert)).toBe(second.fingerprint256);
    // And back, from the files this time.
    started.server.reloadTls({ cert: first.cert, key: first.key });
    expect(await servedFingerprint(started.port, first.cert)).toBe(first.fingerprint256);

    for (const client of [open, fresh]) client.ws.close();
    await Promise.all([closed(open), closed(fresh)]);
    expect(started.logged).toEqual([]);
  });

  it('stop() closes wss clients with 1001 like ws ones', async () => {
    const other = await startServer(new EchoApp(), { tls: { cert: first.cert, key: first.key } });
    const client = await connect(`wss://127.0.0.1:${other.port}/`, { ca: first.cert });
    await other.server.stop();
    expect(await closed(client)).toEqual({ code: 1001, reason: 'Server shutting down' });
  });

  it('reloadTls on a server without tls throws ServerStateError', async () => {
    const plain = await startServer(new EchoApp());
    try {
      let caught: unknown;
      try {
        plain.server.reloadTls({ cert: first.cert, key: first.key });
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(ServerStateError);
      expect((caught as ServerStateError).code).toBe(ErrorCodes.SERVER_STATE);
      expect((caught as Error).message).toBe('reloadTls(): this server was created without the "tls" option');
    } finally {
      await plain.server.stop();
    }
  });
});
