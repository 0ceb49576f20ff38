/**
 * Endpoint results as they cross between nodes: errors travel as code + message and come
 * back as the same error classes where the code names one.
 */
import type { NodeReply, WireError } from '../cluster/adapter.js';
import { ClientClosingError, ErrorCodes, RemoteError, UnknownClientError, WsActorError } from '../errors.js';
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

/** A reply of the wrong kind means a peer speaks another protocol version: a failure, not a crash. */
function mismatch(reply: NodeReply, expected: string): WsActorError {
  return new RemoteError(ErrorCodes.NODE_UNREACHABLE, `Node replied "${reply.op}" to a "${expected}" request`);
}

export function sendResultOf(reply: NodeReply, clientId: number): SendResult {
  if (reply.op !== 'result') return { ok: false, error: mismatch(reply, 'result') };
  return reply.error === null ? { ok: true } : { ok: false, error: fromWire(reply.error, clientId) };
}

export function deliveryOf(reply: NodeReply): BroadcastResult | WsActorError {
  if (reply.op !== 'delivery') return mismatch(reply, 'delivery');
  return { sent: reply.sent, failed: reply.failed.map((f) => ({ clientId: f.clientId, error: fromWire(f.error, f.clientId) })) };
}
