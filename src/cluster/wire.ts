/**
 * One cluster message as bytes: a 4-byte big-endian header length, a JSON header, then the
 * raw payload bytes (never base64, so a 1 MB binary message stays 1 MB on the wire).
 * Anything read from the wire is untrusted: {@link decodeMessage} checks every field and
 * reports a reason instead of throwing, so a malformed message is dropped, not fatal.
 */
import { ErrorCodes, type ErrorCode } from '../errors.js';
import type { NodeReply, NodeRequest, WireError } from './adapter.js';

/** A request to one node (node channel) or to all (all channel). */
export interface WireRequest {
  readonly kind: 'req';
  /** Sender's node id. */
  readonly from: number;
  /** Sender's sequence number on the channel this message was published to (from 1). */
  readonly seq: number;
  /** Sender-local request id; the reply carries it back. */
  readonly id: number;
  readonly request: NodeRequest;
  readonly payload: Buffer | null;
}

/** A reply, always published to the requester's node channel. */
export interface WireReply {
  readonly kind: 'rep';
  readonly from: number;
  readonly seq: number;
  readonly id: number;
  readonly reply: NodeReply;
}

/**
 * "Got it, working on it": sent at once for requests whose answer waits for many socket
 * writes (broadcast, multicast), so a busy node is told apart from an unreachable one.
 */
export interface WireAck {
  readonly kind: 'ack';
  readonly from: number;
  readonly seq: number;
  readonly id: number;
}

export type WireMessage = WireRequest | WireReply | WireAck;

/** What {@link decodeMessage} found: a message, or why the bytes are not one. */
export type Decoded = { readonly ok: true; readonly message: WireMessage } | { readonly ok: false; readonly reason: string };

const HEADER_LENGTH_BYTES = 4;
/** Headers are small (ids, flags, client id lists); a huge one is garbage or an attack. */
const MAX_HEADER_BYTES = 16 * 1024 * 1024;

interface Header {
  readonly v: 1;
  readonly k: 'req' | 'rep' | 'ack';
  readonly f: number;
  readonly s: number;
  readonly i: number;
  readonly b: NodeRequest | NodeReply | null;
  /** Whether payload bytes follow the header (distinguishes `null` from an empty Buffer). */
  readonly p: boolean;
}

/** Frames `message` as one Buffer. */
export function encodeMessage(message: WireMessage): Buffer {
  const payload = message.kind === 'req' ? message.payload : null;
  const header: Header = {
    v: 1,
    k: message.kind,
    f: message.from,
    s: message.seq,
    i: message.id,
    b: message.kind === 'req' ? message.request : message.kind === 'rep' ? message.reply : null,
    p: payload !== null,
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.allocUnsafe(HEADER_LENGTH_BYTES);
  prefix.writeUInt32BE(json.length, 0);
  return payload === null ? Buffer.concat([prefix, json]) : Buffer.concat([prefix, json, payload]);
}

/** Parses and validates one framed message; never throws. */
export function decodeMessage(bytes: Buffer): Decoded {
  if (bytes.length < HEADER_LENGTH_BYTES) return fail('shorter than the header length field');
  const headerLength = bytes.readUInt32BE(0);
  if (headerLength > MAX_HEADER_BYTES || HEADER_LENGTH_BYTES + headerLength > bytes.length) {
    return fail(`header length ${headerLength} does not fit in ${bytes.length} bytes`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8', HEADER_LENGTH_BYTES, HEADER_LENGTH_BYTES + headerLength));
  } catch {
    return fail('header is not JSON');
  }
  if (!isRecord(raw) || raw.v !== 1) return fail('header is not a version 1 object');
  const { k: kind, f: from, s: seq, i: id, b: body, p: hasPayload } = raw;
  if (kind !== 'req' && kind !== 'rep' && kind !== 'ack') return fail('bad kind');
  if (!isPositiveInt(from) || !isPositiveInt(seq) || !isPositiveInt(id)) return fail('bad from, seq or id');
  if (typeof hasPayload !== 'boolean') return fail('bad payload flag');
  const rest = bytes.length - HEADER_LENGTH_BYTES - headerLength;
  if (!hasPayload && rest !== 0) return fail(`${rest} stray bytes after the header`);
  if (kind === 'ack') {
    if (hasPayload || body !== null) return fail('an ack carries no body or payload');
    return { ok: true, message: { kind, from, seq, id } };
  }
  if (kind === 'rep') {
    if (hasPayload) return fail('a reply carries no payload');
    if (!isNodeReply(body)) return fail('bad reply body');
    return { ok: true, message: { kind, from, seq, id, reply: body } };
  }
  if (!isNodeRequest(body)) return fail('bad request body');
  // A copy, so the payload does not pin the (possibly large, pooled) buffer the parser read into.
  const payload = hasPayload ? Buffer.from(bytes.subarray(HEADER_LENGTH_BYTES + headerLength)) : null;
  return { ok: true, message: { kind, from, seq, id, request: body, payload } };
}

function fail(reason: string): Decoded {
  return { ok: false, reason };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isPositiveInt(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) > 0;
}

function isId(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function isIdList(value: unknown): value is readonly number[] {
  return Array.isArray(value) && value.every(isId);
}

function isNodeRequest(value: unknown): value is NodeRequest {
  if (!isRecord(value)) return false;
  switch (value.op) {
    case 'send':
      return isId(value.clientId) && typeof value.binary === 'boolean';
    case 'broadcast':
      return typeof value.binary === 'boolean' && isIdList(value.except);
    case 'multicast':
      return typeof value.binary === 'boolean' && isIdList(value.clientIds);
    case 'close':
      return isId(value.clientId) && Number.isInteger(value.code) && typeof value.reason === 'string';
    case 'clients':
      return true;
    case 'info':
      return isId(value.clientId);
    default:
      return false;
  }
}

const errorCodes: ReadonlySet<string> = new Set<ErrorCode>(Object.values(ErrorCodes));

function isWireError(value: unknown): value is WireError {
  return isRecord(value) && typeof value.code === 'string' && errorCodes.has(value.code) && typeof value.message === 'string';
}

function isNodeReply(value: unknown): value is NodeReply {
  if (!isRecord(value)) return false;
  switch (value.op) {
    case 'result':
      return value.error === null || isWireError(value.error);
    case 'delivery':
      return (
        isIdList(value.sent) &&
        Array.isArray(value.failed) &&
        value.failed.every((f: unknown) => isRecord(f) && isId(f.clientId) && isWireError(f.error))
      );
    case 'clients':
      return isIdList(value.clientIds);
    case 'info':
      // Shallow: the sender built it from its own ClientInfo; check the identifying fields.
      return value.info === null || (isRecord(value.info) && isId(value.info.client_id) && typeof value.info.state === 'string');
    default:
      return false;
  }
}
