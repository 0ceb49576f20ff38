/**
 * RFC 6455 section 4.2.1 checks, run before `onHandshake` (which is not called when one
 * fails). Pure: takes the parsed request, returns the answer to send.
 */
import type { IncomingHttpHeaders } from 'node:http';

export type HandshakeCheck =
  | { ok: true; key: string; subprotocols: string[] }
  | { ok: false; status: number; headers: Record<string, string>; body: string };

export interface UpgradeRequestLike {
  method?: string | undefined;
  httpVersion: string;
  headers: IncomingHttpHeaders;
  /** Names and values as received (Node keeps only the first of repeated `Host` headers). */
  rawHeaders?: string[];
}

const KEY_PATTERN = /^[+/0-9A-Za-z]{22}==$/;
/** RFC 9112 3.2 / RFC 3986 3.2.2: an IP literal or a reg-name (may be empty), then an optional port. */
const HOST_VALUE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]*)?$/;

function fail(status: number, body: string, headers: Record<string, string> = {}): HandshakeCheck {
  return { ok: false, status, headers, body };
}

function headerTokens(value: string | string[] | undefined): string[] {
  const joined = Array.isArray(value) ? value.join(',') : (value ?? '');
  return joined
    .split(',')
    .map((token) => token.trim().toLowerCase())
    .filter((token) => token.length > 0);
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Parses `Sec-WebSocket-Protocol` into the offered subprotocols, in the client's order, or
 * null when the header is malformed (empty item, non-token, repeated name), as `ws` refuses those.
 */
export function parseSubprotocols(value: string | string[] | undefined): string[] | null {
  if (value === undefined) return [];
  const joined = Array.isArray(value) ? value.join(',') : value;
  const items = joined.split(',').map((token) => token.trim());
  if (items.some((item) => !TOKEN.test(item)) || new Set(items).size !== items.length) return null;
  return items;
}

function hostLines(raw: string[] | undefined): number {
  let count = 0;
  if (raw !== undefined) for (let i = 0; i < raw.length; i += 2) if ((raw[i] as string).toLowerCase() === 'host') count++;
  return count;
}

/** Checks an upgrade request, in the order Aerys did (with the Host check of RFC 9112). */
export function checkUpgradeRequest(req: UpgradeRequestLike): HandshakeCheck {
  const { headers } = req;
  if (req.method !== 'GET') return fail(405, 'Method Not Allowed', { Allow: 'GET' });
  if (req.httpVersion !== '1.1') return fail(505, 'HTTP Version Not Supported');
  // RFC 9112 3.2 (a server MUST answer 400); Node checks it for plain requests, not upgrades.
  if (headers.host === undefined || hostLines(req.rawHeaders) > 1) return fail(400, 'Bad Request: exactly one Host header is required');
  if (!HOST_VALUE.test(headers.host)) return fail(400, 'Bad Request: invalid Host header');
  const length = headers['content-length'];
  if ((length !== undefined && length !== '0') || headers['transfer-encoding'] !== undefined) {
    return fail(400, 'Bad Request: a WebSocket upgrade request has no body');
  }
  if (!headerTokens(headers.upgrade).includes('websocket')) {
    return fail(426, 'Upgrade Required: "Upgrade: websocket" header missing', { Upgrade: 'websocket' });
  }
  if (!headerTokens(headers.connection).includes('upgrade')) {
    return fail(426, 'Upgrade Required: "Connection: Upgrade" header missing', { Upgrade: 'websocket' });
  }
  const key = headers['sec-websocket-key'];
  if (typeof key !== 'string' || !KEY_PATTERN.test(key.trim())) {
    return fail(400, 'Bad Request: missing or invalid Sec-WebSocket-Key');
  }
  if (headers['sec-websocket-version'] !== '13') {
    return fail(400, 'Bad Request: unsupported Sec-WebSocket-Version', { 'Sec-WebSocket-Version': '13' });
  }
  const subprotocols = parseSubprotocols(headers['sec-websocket-protocol']);
  if (subprotocols === null) return fail(400, 'Bad Request: invalid Sec-WebSocket-Protocol header');
  return { ok: true, key: key.trim(), subprotocols };
}
