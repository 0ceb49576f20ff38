/**
 * `ws` enforces the message size and fragment count but has no frame size limit, closes
 * "too many fragments" with 1008 and sends protocol closes without a reason. This subclass,
 * handed to `WebSocketServer` through its `WebSocket` option, adds the frame limit and makes
 * every too-big case 1009 with a reason; `pause` also holds the parser (C3's bound), and a
 * text message in several frames is handed over frame by frame. The `ws` internals this takes
 * (the receiver's steps and fields) are listed, and checked at startup, in ws-internals.ts.
 */
import { WebSocket } from 'ws';

import { clipCloseReason, FRAME_TOO_LARGE, TOO_BIG_ERROR_CODES } from '../close-codes.js';
import { receiverOf, type ReceiverInternals, type SocketInternals, type WriteCallback } from './ws-internals.js';

/** Takes the events of one `ws` socket directly, instead of listeners. */
export interface WsEventSink {
  /** Returns false for events it does not handle (they go to listeners, if any). */
  wsEvent(event: string | symbol, a: unknown, b: unknown): boolean;
  /** Called before any close frame goes out: frames the connection still holds go first. */
  flushDeferred(): void;
}

/** A `ws` socket that hands its events to the connection it belongs to. */
export interface OwnedWebSocket extends WebSocket {
  owner: WsEventSink | null;
}

export function limitedWebSocketClass(maxFrameSize: number): typeof WebSocket {
  /** ws's Receiver prototype with the frame limit in front of `haveLength`, made on first use. */
  let limitedReceiver: ReceiverInternals | null = null;
  class LimitedWebSocket extends WebSocket {
    /**
     * The connection this socket belongs to (set by the runtime once upgraded). Its events go
     * straight to it: no listener functions, and no listener table (a dictionary-mode object
     * of about 250 bytes with five events) on every connection.
     */
    owner: WsEventSink | null = null;

    // ws emits at most two arguments ('message', 'close'); other events, and all of them
    // before the owner is set, go the usual way.
    override emit(event: string | symbol, a?: unknown, b?: unknown): boolean {
      const owner = this.owner;
      if (owner !== null && owner.wsEvent(event, b === false && event === 'message' ? textFrames(this, a as Buffer) : a, b)) return true;
      // eslint-disable-next-line prefer-rest-params
      return super.emit(event, ...(Array.prototype.slice.call(arguments, 1) as unknown[]));
    }

    setSocket(socket: unknown, head: unknown, options: unknown): void {
      const base = WebSocket.prototype as unknown as SocketInternals;
      base.setSocket.call(this, socket, head, options);
      const receiver = receiverOf(this);
      if (receiver === null) return;
      // Swapping the prototype (the same one for every socket of this server) adds the check
      // without a bound function or closure per connection.
      limitedReceiver ??= withLimits(Object.getPrototypeOf(receiver) as ReceiverInternals, maxFrameSize);
      // Our fields first, then the swap: added later, each receiver would get a hidden class of
      // its own (~0.9 KiB per connection, measured), as V8 does not share maps after a swap.
      receiver.wsaHeld = false;
      receiver.wsaInLoop = false;
      receiver.wsaCb = null;
      receiver.wsaTextFrames = null;
      Object.setPrototypeOf(receiver, limitedReceiver);
    }

    /**
     * Pauses reading and also the parsing of bytes already read: `ws` parses a whole socket
     * read at once, which is thousands of small messages past `maxQueuedMessages`.
     */
    override pause(): void {
      const receiver = receiverOf(this);
      if (receiver !== null) receiver.wsaHeld = true;
      super.pause();
    }

    override resume(): void {
      const receiver = receiverOf(this);
      if (receiver?.wsaHeld === true) {
        receiver.wsaHeld = false;
        // From inside the loop (a synchronous onData caught up): it goes on by itself.
        if (receiver.wsaInLoop !== true) {
          const cb = receiver.wsaCb ?? destroyOnError(receiver);
          receiver.wsaCb = null;
          receiver.startLoop(cb);
        }
      }
      super.resume();
    }

    override terminate(): void {
      // What is still unparsed must be read out (and dropped) for ws to report 'close'.
      this.resume();
      super.terminate();
    }

    override close(code?: number, data?: string | Buffer): void {
      this.owner?.flushDeferred();
      const receiver = receiverOf(this);
      const error = receiver?._writableState?.errored;
      // Called by ws itself right after a receiver error: say why, and use 1009 for "too big".
      if (error != null && code !== undefined && data === undefined && this.readyState === WebSocket.OPEN) {
        const status = error.code !== undefined && TOO_BIG_ERROR_CODES.has(error.code) ? 1009 : code;
        super.close(status, clipCloseReason(error.message));
        return;
      }
      super.close(code, data);
    }
  }
  return LimitedWebSocket;
}

/** The callback of a parse that no write waits for: an error still reaches ws as usual. */
function destroyOnError(receiver: ReceiverInternals): WriteCallback {
  return (error) => {
    if (error != null) receiver.destroy(error);
  };
}

/**
 * ws's Receiver with a frame size limit and a hold: `getInfo` (the start of every frame)
 * stops the loop while held, and `startLoop` keeps the next write's callback until resumed,
 * so the Writable buffers what comes next (and the paused socket stops reading).
 */
function withLimits(proto: ReceiverInternals, maxFrameSize: number): ReceiverInternals {
  return Object.create(proto, {
    startLoop: {
      value: function (this: ReceiverInternals, cb: WriteCallback): void {
        if (this.wsaHeld === true) {
          this.wsaCb = cb;
          return;
        }
        this.wsaInLoop = true;
        try {
          // Held at a frame start: the write is not done until the rest is parsed, so the
          // Writable buffers what follows and a socket close waits for it (C4).
          proto.startLoop.call(this, (error) => {
            if (error == null && this.wsaHeld === true) this.wsaCb = cb;
            else cb(error);
          });
        } finally {
          this.wsaInLoop = false;
        }
      },
    },
    getInfo: {
      value: function (this: ReceiverInternals, cb: WriteCallback): void {
        if (this.wsaHeld === true) {
          this._loop = false;
          return;
        }
        proto.getInfo.call(this, cb);
      },
    },
    dataMessage: {
      value: function (this: ReceiverInternals, cb: (error?: Error) => void): void {
        // ws joins a text message's frames into one buffer, validates that and emits it: note
        // the frames' lengths so `textFrames` can hand them over one by one again.
        if (this._fin && this._opcode === 0x01 && this._fragments.length > 1) this.wsaTextFrames = this._fragments.map((f) => f.length);
        proto.dataMessage.call(this, cb);
      },
    },
    haveLength: {
      value: function (this: ReceiverInternals, cb: (error?: Error) => void): void {
        if (this._opcode < 0x08 && this._payloadLength > maxFrameSize) {
          cb(this.createError(RangeError, 'Max frame size exceeded', false, 1009, FRAME_TOO_LARGE));
          return;
        }
        proto.haveLength.call(this, cb);
      },
    },
  }) as ReceiverInternals;
}

/**
 * A text message as `ws` emits it: one buffer or, if it came in several frames, those frames
 * again, as views of that validated buffer (binary messages come so with 'fragments').
 */
function textFrames(ws: WebSocket, whole: Buffer): Buffer | Buffer[] {
  const receiver = receiverOf(ws);
  const lengths = receiver?.wsaTextFrames;
  if (lengths == null) return whole;
  (receiver as ReceiverInternals).wsaTextFrames = null;
  const frames: Buffer[] = [];
  let offset = 0;
  for (const length of lengths) frames.push(whole.subarray(offset, (offset += length)));
  return frames;
}

/** The header of one unmasked, final server frame (RFC 6455 5.2) of `length` payload bytes. */
export function encodeHeader(length: number, binary: boolean): Buffer {
  const header = Buffer.allocUnsafe(length < 126 ? 2 : length < 65536 ? 4 : 10);
  writeHeader(header, length, binary);
  return header;
}

/** One unmasked, final server frame: header and payload in one buffer. */
export function encodeFrame(payload: Buffer, binary: boolean): Buffer {
  const length = payload.length;
  const headerLength = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
  writeHeader(frame, length, binary);
  payload.copy(frame, headerLength);
  return frame;
}

function writeHeader(target: Buffer, length: number, binary: boolean): void {
  target[0] = 0x80 | (binary ? 0x2 : 0x1);
  if (length < 126) {
    target[1] = length;
  } else if (length < 65536) {
    target[1] = 126;
    target.writeUInt16BE(length, 2);
  } else {
    target[1] = 127;
    target.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    target.writeUInt32BE(length >>> 0, 6);
  }
}
