/**
 * Small helpers for integration tests: a started server on 127.0.0.1 with a capturing
 * logger, `ws` clients that collect what they receive, and a polling `waitFor`.
 */
import { WebSocket, type ClientOptions, type RawData } from 'ws';
import { createServer, type Logger, type ServerOptions, type Websocket, type WsActorServer } from '../../src/index.js';

/** One call the server made to its logger. */
export interface LogEntry {
  readonly level: 'error' | 'warn';
  readonly message: string;
  readonly error: unknown;
}

/** A logger that prints nothing and keeps every entry. */
export function captureLogger(): { logger: Logger; entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const logger: Logger = {
    error: (message, error) => void entries.push({ level: 'error', message, error }),
    warn: (message, error) => void entries.push({ level: 'warn', message, error }),
  };
  return { logger, entries };
}

export interface StartedServer<H> {
  readonly server: WsActorServer<H>;
  readonly port: number;
  /** `ws://127.0.0.1:<port><path or />`. */
  readonly url: string;
  /** Everything the server logged (errors and warnings). */
  readonly logged: LogEntry[];
}

/**
 * Creates and starts a server on 127.0.0.1, port 0 (unless `options.server` is given, in
 * which case it attaches), with a capturing logger unless one is passed.
 */
export async function startServer<H>(app: Websocket<H>, options: ServerOptions = {}): Promise<StartedServer<H>> {
  const { logger, entries } = captureLogger();
  const placement: ServerOptions = options.server === undefined ? { host: '127.0.0.1', port: 0 } : {};
  const server = createServer(app, { ...placement, logger, ...options });
  await server.start();
  // Attached: the borrowed server's address; standalone: the one the server listens on.
  const address = options.server === undefined ? server.address() : options.server.address();
  if (address === null || typeof address !== 'object') throw new Error('server has no address after start()');
  return {
    server,
    port: address.port,
    url: `ws://127.0.0.1:${address.port}${options.path ?? '/'}`,
    logged: entries,
  };
}

/** One message a client received. */
export interface Received {
  readonly data: Buffer;
  readonly isBinary: boolean;
}

export interface CloseInfo {
  readonly code: number;
  readonly reason: string;
}

export interface TestClient {
  readonly ws: WebSocket;
  /** Every message received so far, in order. */
  readonly messages: Received[];
  /** The next message not yet returned by `nextMessage` (waits for it). */
  nextMessage(timeoutMs?: number): Promise<Received>;
}

/** The upgrade was answered with an HTTP status instead of 101. */
export class HandshakeRejected extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`handshake rejected with ${status}`);
  }
}

const closings = new WeakMap<WebSocket, Promise<CloseInfo>>();

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/**
 * Opens a `ws` client and resolves once it is open. Rejects with {@link HandshakeRejected}
 * on a non-101 answer, or with the socket error.
 */
export function connect(url: string, opts: ClientOptions = {}): Promise<TestClient> {
  const ws = new WebSocket(url, opts);
  const messages: Received[] = [];
  let cursor = 0;
  let wake: (() => void) | null = null;
  ws.on('message', (data, isBinary) => {
    messages.push({ data: toBuffer(data), isBinary });
    wake?.();
  });
  closings.set(
    ws,
    new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') }))),
  );

  const nextMessage = async (timeoutMs = 2000): Promise<Received> => {
    const deadline = Date.now() + timeoutMs;
    while (cursor >= messages.length) {
      const left = deadline - Date.now();
      if (left <= 0 || ws.readyState === WebSocket.CLOSED) {
        throw new Error(`no message #${cursor} within ${timeoutMs} ms (state ${ws.readyState})`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 50));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
    }
    return messages[cursor++] as Received;
  };

  return new Promise((resolve, reject) => {
    let settled = false;
    ws.on('error', (error) => {
      if (!settled) {
        settled = true;
        reject(error);
      }
    });
    ws.once('unexpected-response', (req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        if (!settled) {
          settled = true;
          reject(new HandshakeRejected(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')));
        }
        req.destroy();
      });
    });
    ws.once('open', () => {
      settled = true;
      resolve({ ws, messages, nextMessage });
    });
  });
}

/** Resolves with the close code and reason once the client socket closed. */
export function closed(client: WebSocket | TestClient): Promise<CloseInfo> {
  const ws = client instanceof WebSocket ? client : client.ws;
  const known = closings.get(ws);
  if (known !== undefined) return known;
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') })));
}

/** Polls `predicate` every few milliseconds until it holds; rejects after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, timeoutMs = 2000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A promise with its resolve function exposed. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
