/**
 * Every private part of `ws` 8 that wsactor uses, in one place, with why. The rest of the
 * runtime reaches them only through this module. `checkWsInternals()` runs when the first
 * server is created and fails loudly (a `DependencyError` naming what is missing) if an
 * upgrade of `ws` changed one of them, instead of misbehaving silently.
 *
 * | internal | used by | why |
 * |---|---|---|
 * | `Receiver#haveLength` | limited-websocket.ts | a frame size limit (`maxFrameSize`) before the payload is buffered |
 * | `Receiver#getInfo`, `#startLoop`, `_loop` | limited-websocket.ts | `pause()` holds the parser at a frame boundary (C3's bound on messages already read) |
 * | `Receiver#dataMessage`, `_fin`, `_opcode`, `_fragments` | limited-websocket.ts | a text message's frame lengths, so it iterates frame by frame |
 * | `Receiver#createError`, `_payloadLength`, `_writableState.errored` | limited-websocket.ts | the "too big" error and its 1009 close with a reason |
 * | `WebSocket#setSocket`, `_receiver` | limited-websocket.ts | the one place a socket's receiver can be given the limits above |
 * | `WebSocket#_sender._state`, `._queue`, `#_socket` | outbound.ts (via `idleSocketOf`) | a pre-encoded broadcast frame is written straight to the socket only while ws's sender is idle (order) |
 * | `WebSocket#_closeFrameSent` | client-socket.ts | `frames_sent` counts the close frame ws sends by itself |
 * | `WebSocket#_extensions['permessage-deflate'].params` | deflate.ts | caps the server's deflate window at 2^13 whatever the client allowed |
 *
 * Not internals, but `ws` behaviour the runtime works around: `handleUpgrade` wants the
 * `Upgrade` header to be exactly "websocket" (server.ts rewrites a token list), and a
 * `WebSocketServer` made with `{ server }` answers 400 to other paths (we use `noServer`).
 */
import { createRequire } from 'node:module';
import * as wsModule from 'ws';
import { WebSocket } from 'ws';
import { DependencyError } from '../errors.js';

export type WriteCallback = (error?: Error | null) => void;

/** ws's Receiver as wsactor uses it, plus the fields wsactor adds (`wsa*`). */
export interface ReceiverInternals {
  _opcode: number;
  _payloadLength: number;
  _fin: boolean;
  _fragments: Buffer[];
  _loop: boolean;
  _writableState?: { errored?: (Error & { code?: string }) | null };
  haveLength(cb: (error?: Error) => void): void;
  dataMessage(cb: (error?: Error) => void): void;
  getInfo(cb: WriteCallback): void;
  startLoop(cb: WriteCallback): void;
  destroy(error?: Error): void;
  createError(ctor: typeof RangeError, message: string, prefix: boolean, status: number, code: string): Error;
  /** Ours: the frame lengths of the text message `dataMessage` is about to emit joined. */
  wsaTextFrames?: number[] | null;
  /** Ours: frames are not parsed while true (see LimitedWebSocket#pause). */
  wsaHeld?: boolean;
  /** Ours: the parsing loop is running (a resume from inside it needs no restart). */
  wsaInLoop?: boolean;
  /** Ours: the write callback of a chunk that arrived while held. */
  wsaCb?: WriteCallback | null;
}

/** ws's WebSocket as wsactor uses it. */
export interface SocketInternals {
  _receiver: ReceiverInternals | null;
  setSocket(socket: unknown, head: unknown, options: unknown): void;
}

interface SenderInternals {
  _state: number;
  _queue: unknown[];
}

interface WebSocketFields {
  _sender?: SenderInternals | null;
  _socket?: WritableSocket | null;
  _closeFrameSent?: boolean;
  _extensions?: Record<string, { params?: DeflateParams | null } | undefined>;
}

/** What ws keeps of a negotiated permessage-deflate offer (the accepted parameters). */
export interface DeflateParams {
  server_max_window_bits?: number | true;
}

export interface WritableSocket {
  readonly writableLength: number;
  readonly destroyed: boolean;
  write(chunk: Buffer, cb?: (error?: Error | null) => void): boolean;
  cork(): void;
  uncork(): void;
}

/** The receiver of a socket (null before `setSocket`). */
export function receiverOf(ws: WebSocket): ReceiverInternals | null {
  return (ws as unknown as SocketInternals)._receiver;
}

/**
 * The socket under `ws` when its sender has nothing queued (no compression or blob read in
 * progress), so a pre-encoded frame written now keeps per-client order; otherwise null and
 * the caller must go through `ws.send`.
 */
export function idleSocketOf(ws: WebSocket): WritableSocket | null {
  const fields = ws as unknown as WebSocketFields;
  const sender = fields._sender;
  if (sender == null || sender._state !== 0 || sender._queue.length !== 0) return null;
  return fields._socket ?? null;
}

/** Whether ws wrote a close frame on this socket (also one it sent by itself). */
export function closeFrameSent(ws: WebSocket): boolean {
  return (ws as unknown as WebSocketFields)._closeFrameSent === true;
}

/** The accepted permessage-deflate parameters of a socket, or null. */
export function deflateParamsOf(ws: WebSocket): DeflateParams | null {
  return (ws as unknown as WebSocketFields)._extensions?.['permessage-deflate']?.params ?? null;
}

/** ws exports these classes, but its type definitions do not declare them. */
const { Receiver, Sender } = wsModule as unknown as {
  Receiver: new () => object;
  Sender: new (socket: null) => object;
};

const RECEIVER_METHODS = ['haveLength', 'getInfo', 'startLoop', 'dataMessage', 'createError'] as const;
const RECEIVER_FIELDS = ['_opcode', '_payloadLength', '_fin', '_fragments', '_loop', '_writableState'] as const;
const SENDER_FIELDS = ['_state', '_queue'] as const;
const SOCKET_FIELDS = ['_receiver', '_sender', '_socket', '_closeFrameSent', '_extensions'] as const;

/** The ws internals this module relies on that the installed `ws` lacks (empty: all there). */
export function missingWsInternals(): string[] {
  const missing: string[] = [];
  const receiverProto = Receiver.prototype as unknown as Record<string, unknown>;
  for (const name of RECEIVER_METHODS) if (typeof receiverProto[name] !== 'function') missing.push(`Receiver#${name}()`);
  const receiver = new Receiver() as unknown as Record<string, unknown>;
  for (const name of RECEIVER_FIELDS) if (!(name in receiver)) missing.push(`Receiver#${name}`);
  const sender = new Sender(null) as unknown as Record<string, unknown>;
  for (const name of SENDER_FIELDS) if (!(name in sender)) missing.push(`Sender#${name}`);
  if (typeof (WebSocket.prototype as unknown as Record<string, unknown>).setSocket !== 'function') missing.push('WebSocket#setSocket()');
  // A server-side socket before setSocket, as WebSocketServer makes them.
  const socket = new WebSocket(null as never, undefined, { autoPong: true }) as unknown as Record<string, unknown>;
  for (const name of SOCKET_FIELDS) if (!(name in socket)) missing.push(`WebSocket#${name}`);
  return missing;
}

let checked = false;

/** Throws a DependencyError if the installed `ws` lacks an internal wsactor relies on. Once per process. */
export function checkWsInternals(): void {
  if (checked) return;
  const missing = missingWsInternals();
  if (missing.length > 0) {
    const version = (createRequire(import.meta.url)('ws/package.json') as { version: string }).version;
    throw new DependencyError(
      'ws',
      `wsactor relies on internals of ws 8 (checked at startup) that ws ${version} lacks: ${missing.join(', ')}. ` +
        'Install the ws version wsactor was released with (see its package.json) or upgrade wsactor.',
    );
  }
  checked = true;
}
