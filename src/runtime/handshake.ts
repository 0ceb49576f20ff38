/** The request/response objects `onHandshake` receives, and writing a rejection. */
import { STATUS_CODES, validateHeaderName, validateHeaderValue, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { ErrorCodes, InvalidArgumentError } from '../errors.js';
import type { HandshakeRequest, HandshakeResponse } from '../types.js';
import { parseRequestTarget } from './request-target.js';

const RESERVED_HEADERS = new Set([
  'connection',
  'upgrade',
  'sec-websocket-accept',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
  'content-length',
  'transfer-encoding',
]);

export function createHandshakeRequest(req: IncomingMessage, subprotocols: string[]): HandshakeRequest {
  const url = req.url ?? '/';
  // The server answered 400 before this for a target that does not parse.
  const parsed = parseRequestTarget(url) ?? new URL('http://localhost/');
  return {
    method: req.method ?? 'GET',
    url,
    path: parsed.pathname,
    query: parsed.searchParams,
    headers: req.headers,
    remoteAddress: req.socket.remoteAddress,
    remotePort: req.socket.remotePort,
    subprotocols,
    origin: req.headers.origin,
    raw: req,
  };
}

/** Collects what `onHandshake` decided. Calls after the hook settled are refused. */
export class HandshakeDecision implements HandshakeResponse {
  readonly headers: [string, string | readonly string[]][] = [];
  subprotocol: string | undefined;
  rejection: { status: number; body: string } | undefined;
  settled = false;

  constructor(private readonly offered: readonly string[]) {}

  setHeader(name: string, value: string | readonly string[]): void {
    this.#assertOpen();
    try {
      validateHeaderName(name);
      for (const v of typeof value === 'string' ? [value] : value) validateHeaderValue(name, v);
    } catch (error) {
      throw new InvalidArgumentError(ErrorCodes.INVALID_HEADER, `Invalid header "${name}"`, { cause: error });
    }
    if (RESERVED_HEADERS.has(name.toLowerCase())) {
      throw new InvalidArgumentError(ErrorCodes.INVALID_HEADER, `Header "${name}" is set by the server`);
    }
    this.headers.push([name, value]);
  }

  setSubprotocol(protocol: string): void {
    this.#assertOpen();
    if (!this.offered.includes(protocol)) {
      throw new InvalidArgumentError(
        ErrorCodes.INVALID_SUBPROTOCOL,
        `Subprotocol "${protocol}" was not offered (offered: ${this.offered.join(', ') || 'none'})`,
      );
    }
    this.subprotocol = protocol;
  }

  reject(status: number, body = ''): void {
    this.#assertOpen();
    if (!Number.isInteger(status) || status < 300 || status > 599) {
      throw new InvalidArgumentError(
        ErrorCodes.INVALID_STATUS,
        `Rejection status must be an integer from 300 to 599, got ${String(status)}`,
      );
    }
    this.rejection = { status, body: String(body) };
  }

  #assertOpen(): void {
    if (this.settled) {
      throw new InvalidArgumentError(ErrorCodes.HANDSHAKE_SETTLED, 'The handshake was already answered');
    }
  }
}

/** Writes a complete HTTP error response on a raw upgrade socket and closes it. */
export function writeHttpRejection(
  socket: Duplex,
  status: number,
  body: string,
  headers: Iterable<[string, string | readonly string[]]> = [],
): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const payload = Buffer.from(body, 'utf8');
  const extra = [...headers];
  const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`, 'Connection: close', `Content-Length: ${payload.length}`];
  // The app's own Content-Type (set in onHandshake) replaces the default.
  if (!extra.some(([name]) => name.toLowerCase() === 'content-type')) lines.push('Content-Type: text/plain; charset=utf-8');
  for (const [name, value] of extra) {
    for (const v of typeof value === 'string' ? [value] : value) lines.push(`${name}: ${v}`);
  }
  socket.once('finish', () => socket.destroy());
  socket.end(Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), payload]));
}

/** Statuses for what Node's HTTP parser refuses before a request exists (as Node answers them). */
const CLIENT_ERROR_STATUS: Readonly<Record<string, number>> = {
  HPE_HEADER_OVERFLOW: 431,
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 413,
  ERR_HTTP_REQUEST_TIMEOUT: 408,
};

/**
 * The HTTP server's `clientError` listener: a request Node could not parse (a bad request line,
 * headers too large, too slow) gets its 4xx, as Node itself would answer, then the socket is
 * destroyed; a socket that is already gone or answered gets nothing.
 */
export function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  const counted = socket as Duplex & { bytesWritten?: number };
  if (!socket.writable || (counted.bytesWritten ?? 0) > 0 || error.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const status = CLIENT_ERROR_STATUS[error.code ?? ''] ?? 400;
  writeHttpRejection(socket, status, STATUS_CODES[status] ?? 'Bad Request');
}
