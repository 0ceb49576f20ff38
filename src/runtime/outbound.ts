/**
 * The outbound side of one connection (a base class of ClientSocket, so still one object per
 * connection): single sends and broadcast writes, the outbound buffer bound, the fast path,
 * and broadcast frames deferred by the server's Outbox while it coalesces.
 *
 * On a connection that negotiated permessage-deflate, a message of at least the threshold
 * (see deflate.ts), single or broadcast, goes through `ws.send` to be compressed with that
 * connection's own deflate context; smaller ones take the same raw paths as on any other
 * connection. Per-client order holds because a raw frame is only written while `ws`'s sender
 * is idle: once a message waits for compression, everything after it queues behind it in ws.
 */
import { WebSocket } from 'ws';
import type { CloseCause } from '../close-codes.js';
import { ClientCounters } from '../endpoint/client-info.js';
import type { OutboundMessage } from '../endpoint/endpoint.js';
import type { SendResult } from '../endpoint/types.js';
import { BackpressureError, ClientClosingError, SendFailedError, WsActorError } from '../errors.js';
import type { DeflateOptions, ResolvedOptions } from '../options.js';
import { compresses, deflateNegotiated } from './deflate.js';
import { encodeFrame, encodeHeader } from './limited-websocket.js';
import { idleSocketOf, type WritableSocket } from './ws-internals.js';
import type { OutboxMember } from './outbox.js';
import type { ServerServices } from './services.js';
import type { ServerStats } from './stats.js';

/** What the socket side needs from its server. */
export interface SocketHost {
  readonly options: ResolvedOptions;
  readonly stats: ServerStats;
  readonly services: ServerServices;
}

type Done = (error: WsActorError | null) => void;

const OK: SendResult = Object.freeze({ ok: true as const });
/** What every send handed to the OS at once returns: no promise per message. */
const SENT: Promise<SendResult> = Promise.resolve(OK);
const LATER = Symbol('later');
const EMPTY = Buffer.alloc(0);
/** Larger payloads go out as header + payload (no copy); smaller ones as one buffer from the pool. */
const COPY_LIMIT = 2048;
const DEFLATE = 1;

/** Broadcasts waiting for the outbox's flush, in call order. */
interface Deferred {
  messages: OutboundMessage[];
  dones: Done[];
  bytes: number;
}

export abstract class Outbound extends ClientCounters implements OutboxMember {
  protected readonly host: SocketHost;
  /** Null until upgraded. */
  protected ws: WebSocket | null = null;
  #out = 0;
  #deferred: Deferred | null = null;

  constructor(id: number, host: SocketHost, remoteAddress: string | null) {
    super(id, remoteAddress, host.options.clock.now());
    this.host = host;
  }

  abstract beginClose(cause: CloseCause): void;

  protected attachOutbound(ws: WebSocket): void {
    this.ws = ws;
    if (deflateNegotiated(ws)) this.#out |= DEFLATE;
  }

  /** The close began: what was deferred goes out first, later sends fail. */
  protected closeOutbound(): void {
    this.#flush(true);
  }

  /** Sends one message; resolves once it was handed to the OS. Never rejects. */
  send(payload: Buffer, binary: boolean): Promise<SendResult> {
    this.flushDeferred(); // per-client order: broadcasts called earlier go first
    const outcome = this.#writeNow(payload, binary, null);
    if (outcome === null) return SENT;
    if (outcome instanceof WsActorError) return Promise.resolve({ ok: false, error: outcome });
    return new Promise((resolve) => {
      const done: Done = (error) => resolve(error === null ? OK : { ok: false, error });
      if (outcome === LATER) this.#writeLater(payload, binary, null, done);
      else outcome.write(EMPTY, this.#afterWrite([payload.length], [done]));
    });
  }

  /**
   * Sends one message and calls `done` once it was handed to the OS (null) or failed. A
   * broadcast passes the same `message` to every client: its frame is encoded once and the
   * same bytes are written to each socket whose `ws` sender is idle, now or, while the server
   * is busy broadcasting, together with the next ones (see Outbox).
   */
  write(message: OutboundMessage, done: Done): void {
    const { payload, binary } = message;
    const through = this.host.services.outbox.writeThrough(message);
    if (!through || this.#deferred !== null) {
      const error = this.#unsendable(payload.length + (this.#deferred?.bytes ?? 0));
      if (error !== null) done(error);
      else this.#defer(message, done);
      return;
    }
    const outcome = this.#writeNow(payload, binary, message);
    if (outcome === null || outcome instanceof WsActorError) done(outcome);
    else if (outcome === LATER) this.#writeLater(payload, binary, message, done);
    else outcome.write(EMPTY, this.#afterWrite([payload.length], [done]));
  }

  #defer(message: OutboundMessage, done: Done): void {
    const deferred = this.#deferred;
    if (deferred === null) {
      this.#deferred = { messages: [message], dones: [done], bytes: message.payload.length };
      this.host.services.outbox.enlist(this);
      return;
    }
    deferred.messages.push(message);
    deferred.dones.push(done);
    deferred.bytes += message.payload.length;
  }

  /** Writes the deferred frames: one write (several frames corked) when the socket is free. */
  flushDeferred(): void {
    this.#flush(false);
  }

  /** `atClose`: the close just began, and what was deferred before it still goes out. */
  #flush(atClose: boolean): void {
    const deferred = this.#deferred;
    if (deferred === null) return;
    this.#deferred = null;
    const { messages, dones } = deferred;
    const ws = this.ws as WebSocket;
    if ((this.closeBegan && !atClose) || ws.readyState !== WebSocket.OPEN) {
      for (const done of dones) done(new ClientClosingError(this.id));
      return;
    }
    const socket = idleSocketOf(ws);
    // How many frames go out raw from here: all of them, or on a compressing connection
    // those before the first one to compress; the rest go through ws, in order.
    const raw = socket === null || socket.destroyed ? 0 : (this.#out & DEFLATE) === 0 ? messages.length : this.#rawPrefix(messages);
    if (raw === messages.length) {
      this.#writeFrames(socket as WritableSocket, messages, dones);
      return;
    }
    if (raw > 0) this.#writeFrames(socket as WritableSocket, messages.slice(0, raw), dones.slice(0, raw));
    // ws's sender is busy (compressing), or is about to be: go through it, in order.
    for (let i = raw; i < messages.length; i++) {
      const { payload, binary } = messages[i] as OutboundMessage;
      ws.send(payload, { binary, compress: this.#compresses(payload.length) }, this.#afterWrite([payload.length], [dones[i] as Done]));
    }
  }

  /** On a compressing connection: the number of messages before the first one to compress. */
  #rawPrefix(messages: OutboundMessage[]): number {
    const index = messages.findIndex((m) => this.#compresses(m.payload.length));
    return index < 0 ? messages.length : index;
  }

  /** Writes pre-encoded frames to the idle socket: one write (several frames corked). */
  #writeFrames(socket: WritableSocket, messages: OutboundMessage[], dones: Done[]): void {
    const lengths = messages.map((m) => m.payload.length);
    const free = socket.writableLength === 0;
    if (messages.length > 1) socket.cork();
    for (const m of messages) socket.write((m.frame ??= encodeFrame(m.payload, m.binary)));
    if (messages.length > 1) socket.uncork();
    if (free && socket.writableLength === 0) {
      for (let i = 0; i < dones.length; i++) {
        this.#countSent(lengths[i] as number);
        (dones[i] as Done)(null);
      }
    } else {
      socket.write(EMPTY, this.#afterWrite(lengths, dones));
    }
  }

  /** Closing, or over the outbound buffer bound (a slow consumer): the error, else null. */
  #unsendable(length: number): WsActorError | null {
    const ws = this.ws;
    if (ws === null || this.closeBegan || ws.readyState !== WebSocket.OPEN) return new ClientClosingError(this.id);
    const buffered = ws.bufferedAmount;
    const { options, stats } = this.host;
    if (buffered > 0 && buffered + length > options.maxBufferedBytes) {
      // A slow consumer: bound our memory instead of queueing without limit.
      if (options.outboundOverflow === 'close') {
        stats.slowConsumerCloses++;
        this.beginClose({ kind: 'limit', code: 1008, reason: 'Slow consumer: outbound buffer limit exceeded' });
      }
      return new BackpressureError(this.id, buffered);
    }
    return null;
  }

  /**
   * The fast path: when `ws`'s sender is idle and nothing waits in the socket's buffer, the
   * frame is written at once and, if the OS took it all, that is the outcome (null) with no
   * callback, promise or tick per message. LATER: not possible now (nothing was written); a
   * socket: written, but part of it waits in that socket's buffer.
   */
  #writeNow(payload: Buffer, binary: boolean, shared: OutboundMessage | null): WsActorError | null | typeof LATER | WritableSocket {
    const error = this.#unsendable(payload.length);
    if (error !== null) return error;
    // A message to compress goes through ws (with this connection's deflate context).
    const socket = this.#compresses(payload.length) ? null : idleSocketOf(this.ws as WebSocket);
    if (socket === null || socket.writableLength !== 0 || socket.destroyed) return LATER;
    if (shared !== null) socket.write((shared.frame ??= encodeFrame(payload, binary)));
    else writeFrame(socket, payload, binary);
    // Only part of it went out: the caller learns when the rest did (an empty write queued
    // behind it calls back then).
    if (socket.writableLength !== 0) return socket;
    this.#countSent(payload.length);
    return null;
  }

  /** The slow path: the outcome comes from the write's callback. */
  #writeLater(payload: Buffer, binary: boolean, shared: OutboundMessage | null, done: Done): void {
    const ws = this.ws as WebSocket;
    const compress = this.#compresses(payload.length);
    const socket = compress ? null : idleSocketOf(ws);
    const sent = this.#afterWrite([payload.length], [done]);
    // ws would compress every message on a deflate connection unless told (`compress`).
    if (socket === null) ws.send(payload, { binary, compress }, sent);
    else if (shared !== null) socket.write((shared.frame ??= encodeFrame(payload, binary)), sent);
    else writeFrame(socket, payload, binary, sent);
  }

  /** True: on this connection (which negotiated deflate), a message of `length` bytes is compressed. */
  #compresses(length: number): boolean {
    return (this.#out & DEFLATE) !== 0 && compresses(this.host.options.perMessageDeflate as Required<DeflateOptions>, length);
  }

  #afterWrite(lengths: number[], dones: Done[]): (error?: Error | null) => void {
    return (error) => {
      for (let i = 0; i < dones.length; i++) {
        if (error) (dones[i] as Done)(new SendFailedError(this.id, error));
        else {
          this.#countSent(lengths[i] as number);
          (dones[i] as Done)(null);
        }
      }
    };
  }

  #countSent(length: number): void {
    const now = this.host.options.clock.now();
    this.messages_sent++;
    this.frames_sent++;
    this.last_sent_at = now;
    this.last_data_sent_at = now;
    this.host.stats.messagesOut++;
    this.host.stats.bytesOut += length;
  }
}

function writeFrame(socket: WritableSocket, payload: Buffer, binary: boolean, cb?: (error?: Error | null) => void): void {
  if (payload.length <= COPY_LIMIT) {
    socket.write(encodeFrame(payload, binary), cb);
    return;
  }
  socket.cork();
  socket.write(encodeHeader(payload.length, binary));
  socket.write(payload, cb);
  socket.uncork();
}
