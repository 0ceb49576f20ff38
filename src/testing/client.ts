/**
 * A typed WebSocket test client for example-based tests of a wsactor app (and the client the
 * property runner drives): connect with a path, query, headers and subprotocols; send text or
 * binary; await the next message through a typed decoder; expect a close code; close; or drop
 * the TCP connection without a close frame.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, type RawData } from 'ws';

/** One message the client received. */
export interface ReceivedMessage {
  /** The payload bytes. */
  readonly data: Buffer;
  /** True for a binary message, false for text. */
  readonly isBinary: boolean;
  /** The payload decoded as UTF-8 (for a binary message too). */
  readonly text: string;
}

/** How a connection ended: the close code and reason the client saw (1006 and `''` when no close frame came). */
export interface CloseInfo {
  readonly code: number;
  readonly reason: string;
}

/** Where and how to open the upgrade request. */
export interface ConnectOptions {
  /** Request path. Default: the path of the URL, or `/` when connecting to a server. */
  readonly path?: string;
  /** Query parameters, appended to the URL's own. */
  readonly query?: Readonly<Record<string, string>> | URLSearchParams;
  /** Extra request headers (e.g. `origin`, `authorization`, `cookie`). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Subprotocols offered in `Sec-WebSocket-Protocol`, in order of preference. */
  readonly protocols?: string | readonly string[];
  /** How long to wait for the 101 (or the rejection). Default: 5000 ms. */
  readonly timeoutMs?: number;
}

/** Options of {@link TestClient.nextMessage}. */
export interface NextMessageOptions<T> {
  /** How long to wait. Default: 2000 ms. */
  readonly timeoutMs?: number;
  /** Turns the message into what `nextMessage` resolves with (e.g. `(m) => JSON.parse(m.text) as Reply`); a throw rejects. */
  readonly decode?: (message: ReceivedMessage) => T;
}

/** Something {@link connect} can connect to: a `ws://` URL, or a started server (a `WsActorServer`). */
export type ConnectTo = string | { address(): AddressInfo | string | null };

/** The server answered the upgrade with an HTTP status instead of 101. */
export class HandshakeRejectedError extends Error {
  override readonly name = 'HandshakeRejectedError';

  /**
   * @param status - the HTTP status (e.g. 403, 503).
   * @param body - the response body, as text.
   * @param headers - the response headers.
   */
  constructor(
    readonly status: number,
    readonly body: string,
    readonly headers: IncomingHttpHeaders,
  ) {
    super(`handshake rejected with ${status}${body === '' ? '' : `: ${body}`}`);
  }
}

/** What the runner observes on a client (internal: the trace recorder). */
export interface ClientObserver {
  message?(message: ReceivedMessage): void;
  close?(info: CloseInfo): void;
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

function describeClose(info: CloseInfo): string {
  return `${info.code}${info.reason === '' ? '' : ` ${JSON.stringify(info.reason)}`}`;
}

/** Builds the `ws://` URL of the upgrade request. */
export function targetUrl(target: ConnectTo, options: ConnectOptions = {}): string {
  let url: URL;
  if (typeof target === 'string') {
    url = new URL(target);
  } else {
    const address = target.address();
    if (address === null || typeof address === 'string') throw new Error('connect(): the server has no TCP address (not started, or stopped)');
    const host = address.address === '::' || address.address === '0.0.0.0' || address.address === '' ? '127.0.0.1' : address.address;
    url = new URL(`ws://${host.includes(':') ? `[${host}]` : host}:${address.port}/`);
  }
  if (options.path !== undefined) url.pathname = options.path;
  const query = options.query instanceof URLSearchParams ? options.query : new URLSearchParams(options.query ?? {});
  for (const [name, value] of query) url.searchParams.append(name, value);
  return url.toString();
}

/**
 * One WebSocket connection of a test. Create it with {@link connect}. Received messages are
 * kept in order; {@link TestClient.nextMessage} returns them one by one.
 */
export class TestClient {
  /** The subprotocol the server picked, or `''`. */
  readonly protocol: string;
  /** Headers of the 101 response. */
  readonly headers: IncomingHttpHeaders;
  /** The URL this client connected to. */
  readonly url: string;
  /** Resolves with the close code and reason once the connection is closed (also after {@link TestClient.drop}). */
  readonly closed: Promise<CloseInfo>;
  readonly #ws: WebSocket;
  readonly #received: ReceivedMessage[] = [];
  #cursor = 0;
  #closeInfo: CloseInfo | null = null;
  readonly #waiters = new Set<() => void>();

  /**
   * @internal Use {@link connect}. (`socket` is a `ws` WebSocket; typed `unknown` so the
   * published types do not need `@types/ws`.)
   */
  constructor(socket: unknown, url: string, headers: IncomingHttpHeaders, observer: ClientObserver = {}) {
    const ws = socket as WebSocket;
    this.#ws = ws;
    this.url = url;
    this.protocol = ws.protocol;
    this.headers = headers;
    ws.on('message', (data, isBinary) => {
      const buffer = toBuffer(data);
      const message: ReceivedMessage = { data: buffer, isBinary, text: buffer.toString('utf8') };
      this.#received.push(message);
      observer.message?.(message);
      this.#wake();
    });
    // Errors after the handshake (a reset while closing) end in 'close' as well.
    ws.on('error', () => undefined);
    this.closed = new Promise((resolve) => {
      ws.once('close', (code, reason) => {
        const info = { code, reason: reason.toString('utf8') };
        this.#closeInfo = info;
        observer.close?.(info);
        resolve(info);
        this.#wake();
      });
    });
  }

  /** Every message received so far, in order (also those already returned by `nextMessage`). */
  get received(): readonly ReceivedMessage[] {
    return this.#received;
  }

  /** True while the connection is open (no close frame sent or received, not dropped). */
  get isOpen(): boolean {
    return this.#ws.readyState === WebSocket.OPEN;
  }

  /** How the connection ended, or null while it has not. */
  get closeInfo(): CloseInfo | null {
    return this.#closeInfo;
  }

  /** Sends a text message. Throws when the connection is not open. */
  send(text: string): void {
    this.#assertOpen('send');
    this.#ws.send(text);
  }

  /** Sends a binary message. Throws when the connection is not open. */
  sendBinary(data: Uint8Array | ArrayBuffer): void {
    this.#assertOpen('sendBinary');
    this.#ws.send(data, { binary: true });
  }

  /**
   * The next message not yet returned by this method, decoded by `decode` (default: the
   * {@link ReceivedMessage} itself). Rejects when none arrives within `timeoutMs`, when the
   * connection closes first, or when `decode` throws (the message then counts as returned).
   */
  async nextMessage<T = ReceivedMessage>(options: NextMessageOptions<T> = {}): Promise<T> {
    const timeoutMs = options.timeoutMs ?? 2000;
    const ready = await this.#until(() => this.#cursor < this.#received.length || this.#closeInfo !== null, timeoutMs);
    const message = this.#received[this.#cursor];
    if (message === undefined) {
      const closed = this.#closeInfo;
      throw new Error(
        ready && closed !== null
          ? `nextMessage(): the connection closed (${describeClose(closed)}) before message #${this.#cursor + 1} arrived`
          : `nextMessage(): no message #${this.#cursor + 1} within ${timeoutMs} ms`,
      );
    }
    this.#cursor++;
    return options.decode === undefined ? (message as T) : options.decode(message);
  }

  /**
   * Waits until the connection is closed and resolves with its close code and reason; with
   * `code`, rejects unless the client saw that code.
   */
  async expectClose(code?: number, options: { readonly timeoutMs?: number } = {}): Promise<CloseInfo> {
    const timeoutMs = options.timeoutMs ?? 5000;
    if (!(await this.#until(() => this.#closeInfo !== null, timeoutMs))) {
      throw new Error(`expectClose(${code ?? ''}): still open after ${timeoutMs} ms`);
    }
    const info = this.#closeInfo as CloseInfo;
    if (code !== undefined && info.code !== code) throw new Error(`expectClose(${code}): closed with ${describeClose(info)}`);
    return info;
  }

  /**
   * Starts the closing handshake with `code` and `reason` (without a code: an empty close
   * frame, which the server reports as 1005); resolves once the connection is closed.
   */
  close(code?: number, reason = ''): Promise<CloseInfo> {
    if (this.#ws.readyState === WebSocket.OPEN) {
      if (code === undefined) this.#ws.close();
      else this.#ws.close(code, reason);
    }
    return this.closed;
  }

  /** Destroys the TCP connection at once, without a close frame (the server sees 1006). */
  drop(): void {
    this.#ws.terminate();
  }

  #assertOpen(what: string): void {
    if (this.#ws.readyState !== WebSocket.OPEN) {
      const closed = this.#closeInfo;
      throw new Error(`${what}(): the connection is not open${closed === null ? ' (closing)' : ` (closed with ${describeClose(closed)})`}`);
    }
  }

  #wake(): void {
    for (const wake of [...this.#waiters]) wake();
  }

  /** Resolves true once `ready()` holds, false after `timeoutMs`. */
  #until(ready: () => boolean, timeoutMs: number): Promise<boolean> {
    if (ready()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (value: boolean): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve(value);
      };
      const check = (): void => {
        if (ready()) done(true);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      this.#waiters.add(check);
    });
  }
}

/** @internal The runner's connect: the same as {@link connect}, with an observer of what arrives. */
export function openClient(target: ConnectTo, options: ConnectOptions, observer: ClientObserver = {}): Promise<TestClient> {
  const url = targetUrl(target, options);
  const protocols = options.protocols === undefined ? [] : typeof options.protocols === 'string' ? [options.protocols] : [...options.protocols];
  const timeoutMs = options.timeoutMs ?? 5000;
  const ws = new WebSocket(url, protocols, { headers: { ...options.headers }, handshakeTimeout: timeoutMs });
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (error: Error): void => {
      if (settled) return;
      settled = true;
      ws.terminate();
      reject(error);
    };
    ws.once('upgrade', (res) => {
      ws.once('open', () => {
        settled = true;
        resolve(new TestClient(ws, url, res.headers, observer));
      });
    });
    ws.on('error', (error) => fail(error));
    ws.once('unexpected-response', (req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      const rejected = (): void => {
        req.destroy();
        fail(new HandshakeRejectedError(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'), res.headers));
      };
      res.once('end', rejected);
      res.once('error', rejected);
      res.once('close', rejected);
    });
  });
}

/**
 * Opens a WebSocket connection to `target` (a `ws://` URL, or a started server, reached on
 * 127.0.0.1 when it listens on all interfaces) and resolves once the 101 arrived. Rejects with
 * {@link HandshakeRejectedError} when the server answers with a status, or with the socket
 * error (e.g. `ECONNREFUSED`, or a timeout after `timeoutMs`).
 *
 * @example
 * const client = await connect(server, { path: '/chat', query: { name: 'ann' }, protocols: ['chat.v1'] });
 * client.send(JSON.stringify({ type: 'say', text: 'hi' }));
 * const reply = await client.nextMessage({ decode: (m) => JSON.parse(m.text) as Reply });
 * await client.close(1000);
 */
export async function connect(target: ConnectTo, options: ConnectOptions = {}): Promise<TestClient> {
  return openClient(target, options);
}
