/**
 * Endpoint results as they cross between nodes: errors travel as code + message and come
 * back as the same error classes where the code names one.
 *
 * Whatever arrives from the adapter is read as `unknown`: a peer of another version or a
 * broken custom adapter may hand over anything (null, a reply of another kind, a field of
 * the wrong type, a getter that throws). Every reader here checks the shape, copies what it
 * keeps and returns a {@link NodeUnreachableError} for anything else; none of them throws.
 */
import type { NodeReply, NodeRequest, WireError } from '../cluster/adapter.js';
import { ClientClosingError, describe, ErrorCodes, NodeUnreachableError, RemoteError, UnknownClientError, type ErrorCode, type WsActorError } from '../errors.js';
import type { ClientInfo } from './client-info.js';
import type { BroadcastResult, SendResult } from './types.js';

export function toWire(error: WsActorError): WireError {
  return { code: error.code, message: error.message };
}

/** Rebuilds a remote node's error; unknown-client and closing keep their classes. */
export function fromWire(error: WireError, clientId: number): WsActorError {
  if (error.code === ErrorCodes.UNKNOWN_CLIENT) return new UnknownClientError(clientId);
  if (error.code === ErrorCodes.CLIENT_CLOSING) return new ClientClosingError(clientId);
  return new RemoteError(error.code, error.message);
}

export function resultReply(result: SendResult): NodeReply {
  return { op: 'result', error: result.ok ? null : toWire(result.error) };
}

export function deliveryReply(result: BroadcastResult): NodeReply {
  return { op: 'delivery', sent: result.sent, failed: result.failed.map((f) => ({ clientId: f.clientId, error: toWire(f.error) })) };
}

type Fields = Readonly<Record<string, unknown>>;

const ERROR_CODES: ReadonlySet<unknown> = new Set<unknown>(Object.values(ErrorCodes));
const CONNECTION_STATES: ReadonlySet<unknown> = new Set<unknown>(['handshaking', 'open', 'closing', 'closed']);

function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null;
}

function isNumber(value: unknown): value is number {
  return typeof value === 'number';
}

/** A copy of `value` when it is an array of numbers, else null. */
function numbers(value: unknown): number[] | null {
  return Array.isArray(value) && value.every(isNumber) ? [...value] : null;
}

function wireError(value: unknown): WireError | null {
  if (!isFields(value) || !ERROR_CODES.has(value.code) || typeof value.message !== 'string') return null;
  return { code: value.code as ErrorCode, message: value.message };
}

/**
 * Reads a reply of kind `op` with `read`, which returns null for a bad field. A reply of
 * another kind means a peer speaks another protocol version; anything else (not an object,
 * a bad field, a throwing getter) a broken adapter: a failure either way, not a crash.
 * `node` is the node asked, or null for the replies of a request to every node.
 */
function readReply<T>(reply: unknown, op: NodeReply['op'], node: number | null, read: (fields: Fields) => T | null): T | NodeUnreachableError {
  try {
    if (isFields(reply) && reply.op !== op && typeof reply.op === 'string') {
      return new NodeUnreachableError(node, `replied "${reply.op}" to a "${op}" request`);
    }
    const value = isFields(reply) ? read(reply) : null;
    if (value !== null) return value;
  } catch (error) {
    return new NodeUnreachableError(node, `its "${op}" reply could not be read: ${describe(error)}`, { cause: error });
  }
  return new NodeUnreachableError(node, `malformed "${op}" reply`);
}

/** The outcome of a send or close that node `node` answered. */
export function sendResultOf(reply: unknown, clientId: number, node: number | null): SendResult | NodeUnreachableError {
  return readReply<SendResult>(reply, 'result', node, (fields) => {
    if (fields.error === null) return { ok: true };
    const error = wireError(fields.error);
    return error === null ? null : { ok: false, error: fromWire(error, clientId) };
  });
}

/** The outcome of a broadcast or multicast that a node answered. */
export function deliveryOf(reply: unknown, node: number | null): BroadcastResult | NodeUnreachableError {
  return readReply<BroadcastResult>(reply, 'delivery', node, (fields) => {
    const sent = numbers(fields.sent);
    if (sent === null || !Array.isArray(fields.failed)) return null;
    const failed: { clientId: number; error: WsActorError }[] = [];
    for (const item of fields.failed as unknown[]) {
      const error = isFields(item) && isNumber(item.clientId) ? wireError(item.error) : null;
      if (error === null) return null;
      const clientId = (item as Fields).clientId as number;
      failed.push({ clientId, error: fromWire(error, clientId) });
    }
    return { sent, failed };
  });
}

/** The client ids a node listed. */
export function clientIdsOf(reply: unknown, node: number | null): number[] | NodeUnreachableError {
  return readReply(reply, 'clients', node, (fields) => {
    const ids = numbers(fields.clientIds);
    return ids !== null && ids.every((id) => Number.isSafeInteger(id) && id > 0) ? ids : null;
  });
}

/** What a node knows of `clientId`: its info, or null when it holds no such client. */
export function infoOf(reply: unknown, clientId: number, node: number | null): ClientInfo | null | NodeUnreachableError {
  const none = Symbol('none');
  const read = readReply<ClientInfo | typeof none>(reply, 'info', node, (fields) => {
    const info = fields.info;
    if (info === null) return none;
    if (!isFields(info) || info.client_id !== clientId || !CONNECTION_STATES.has(info.state)) return null;
    return { ...info } as unknown as ClientInfo;
  });
  return read === none ? null : read;
}

/**
 * A request from another node, checked field by field and copied (a peer of another version
 * or a broken adapter may send anything); a string says what is wrong with it.
 */
export function readRequest(request: unknown): NodeRequest | string {
  try {
    if (!isFields(request)) return 'the request is not an object';
    const { op } = request;
    const bad = (name: string): string => `"${String(op)}" request with a bad "${name}"`;
    switch (op) {
      case 'send': {
        const { clientId, binary } = request;
        if (!isNumber(clientId)) return bad('clientId');
        return typeof binary === 'boolean' ? { op, clientId, binary } : bad('binary');
      }
      case 'broadcast': {
        const { binary } = request;
        const except = numbers(request.except);
        if (typeof binary !== 'boolean') return bad('binary');
        return except === null ? bad('except') : { op, binary, except };
      }
      case 'multicast': {
        const { binary } = request;
        const clientIds = numbers(request.clientIds);
        if (typeof binary !== 'boolean') return bad('binary');
        return clientIds === null ? bad('clientIds') : { op, binary, clientIds };
      }
      case 'close': {
        const { clientId, code, reason } = request;
        if (!isNumber(clientId)) return bad('clientId');
        if (!isNumber(code)) return bad('code');
        return typeof reason === 'string' ? { op, clientId, code, reason } : bad('reason');
      }
      case 'info': {
        const { clientId } = request;
        return isNumber(clientId) ? { op, clientId } : bad('clientId');
      }
      case 'clients':
        return { op };
      default:
        return typeof op === 'string' ? `unknown request "${op}"` : 'a request without an "op"';
    }
  } catch (error) {
    return `the request could not be read: ${describe(error)}`;
  }
}
