/**
 * The I/O side of one open connection: the `ws` socket with its counters, the inbound queue
 * and read gate, the rate window, the heartbeat, outbound writes with their bound, and the
 * close period. Lifecycle decisions stay with the Connection and its actor; this reports
 * what happened on the wire and does what it is told.
 */
import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import { closeCodeForWsError, type CloseCause } from '../close-codes.js';
import type { MutableClientInfo } from '../endpoint/client-info.js';
import type { OutboundMessage } from '../endpoint/endpoint.js';
import { BackpressureError, ClientClosingError, SendFailedError, type WsActorError } from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import { Heartbeat } from './heartbeat.js';
import { InboundQueue } from './inbound-queue.js';
import { encodeFrame, idleSocketOf } from './limited-websocket.js';
import { Message } from './message.js';
import { PauseReason, RateWindow, ReadGate } from './read-gate.js';
import type { ServerStats } from './stats.js';

/** What the socket side reports to, and asks of, its connection. */
export interface SocketOwner {
  readonly id: number;
  readonly options: ResolvedOptions;
  readonly stats: ServerStats;
  readonly info: MutableClientInfo;
  beginClose(cause: CloseCause): void;
  /** Runs `onData`; false when it failed. */
  deliver(message: Message): Promise<boolean>;
  drained(): void;
  socketClosed(code: number, reason: Buffer): void;
}

type CountedSocket = Duplex & { bytesRead?: number; bytesWritten?: number };

export class ClientSocket {
  readonly inbound: InboundQueue;
  readonly #ws: WebSocket;
  readonly #socket: CountedSocket;
  readonly #owner: SocketOwner;
  readonly #gate: ReadGate;
  readonly #heartbeat: Heartbeat;
  readonly #bytesReadBase: number;
  readonly #bytesWrittenBase: number;
  #rateTimer: unknown = null;
  #rateResume: (() => void) | null = null;
  #closeTimer: unknown = null;
  #closing = false;

  constructor(ws: WebSocket, socket: Duplex, owner: SocketOwner) {
    const { options, stats } = owner;
    this.#ws = ws;
    this.#socket = socket;
    this.#owner = owner;
    this.#bytesReadBase = this.#socket.bytesRead ?? 0;
    this.#bytesWrittenBase = this.#socket.bytesWritten ?? 0;
    ws.binaryType = 'fragments';
    this.#gate = new ReadGate(
      () => ws.pause(),
      () => ws.resume(),
      (reason) => void (reason === PauseReason.BACKLOG ? stats.backlogPauses++ : stats.ratePauses++),
    );
    const limited = options.maxBytesPerSecond !== null || options.maxMessagesPerSecond !== null;
    const rate = limited ? new RateWindow(options.maxBytesPerSecond, options.maxMessagesPerSecond) : null;
    // Rates are counted as messages go to onData, so a burst already read is spread out too.
    this.inbound = new InboundQueue(options.concurrency, options.maxQueuedMessages, this.#gate, {
      deliver: (message) => owner.deliver(message),
      drained: () => owner.drained(),
      ...(rate === null
        ? {}
        : {
            pace: (message: Message) => rate.record(message.size, options.clock.now()),
            after: (ms: number, callback: () => void) => {
              this.#rateResume = callback;
              this.#rateTimer = options.clock.setTimeout(() => this.#endRatePause(), ms);
            },
          }),
    });
    this.#heartbeat = new Heartbeat(options.clock, options.heartbeatMs, options.maxUnansweredPings, {
      lastReadAt: () => owner.info.last_read_at ?? owner.info.connected_at,
      ping: () => {
        ws.ping();
        owner.info.frames_sent++;
      },
      giveUp: () => owner.beginClose({ kind: 'limit', code: 1008, reason: 'Exceeded unanswered PING limit' }),
    });
    this.#heartbeat.start();
    ws.on('message', (data, isBinary) => this.#onMessage(data as Buffer | Buffer[], isBinary));
    ws.on('ping', () => {
      this.#readSomething();
      owner.info.frames_sent++; // ws answers with a pong itself
    });
    ws.on('pong', () => this.#readSomething());
    ws.on('error', (error: Error & { code?: string }) => {
      // Receiver errors: ws has already sent the matching close frame.
      owner.beginClose({ kind: 'protocol', code: closeCodeForWsError(error.code), reason: error.message });
    });
    ws.on('close', (code, reason) => {
      this.#stopTimers();
      owner.socketClosed(code, reason);
    });
  }

  /** The peer's close frame arrived (ws answered it) or ws closed for a protocol error. */
  get peerClosing(): boolean {
    return this.#ws.readyState !== WebSocket.OPEN;
  }

  /** Brings the byte counters of `info` up to date. */
  countBytes(info: MutableClientInfo): void {
    info.bytes_read = (this.#socket.bytesRead ?? 0) - this.#bytesReadBase;
    info.bytes_sent = (this.#socket.bytesWritten ?? 0) - this.#bytesWrittenBase;
  }

  /**
   * Sends one message and calls `done` once it was handed to the OS (null) or failed. A
   * broadcast passes the same `message` to every client: its frame is encoded once and the
   * same bytes are written to each socket whose `ws` sender is idle.
   */
  write(message: OutboundMessage, done: (error: WsActorError | null) => void): void {
    const ws = this.#ws;
    const { id, options, stats, info } = this.#owner;
    if (this.#closing || ws.readyState !== WebSocket.OPEN) {
      done(new ClientClosingError(id));
      return;
    }
    const { payload, binary } = message;
    const buffered = ws.bufferedAmount;
    if (buffered > 0 && buffered + payload.length > options.maxBufferedBytes) {
      // A slow consumer: bound our memory instead of queueing without limit.
      if (options.outboundOverflow === 'close') {
        stats.slowConsumerCloses++;
        this.#owner.beginClose({ kind: 'limit', code: 1008, reason: 'Slow consumer: outbound buffer limit exceeded' });
      }
      done(new BackpressureError(id, buffered));
      return;
    }
    const sent = (error?: Error | null): void => {
      if (error) {
        done(new SendFailedError(id, error));
        return;
      }
      const now = options.clock.now();
      info.messages_sent++;
      info.frames_sent++;
      info.last_sent_at = now;
      info.last_data_sent_at = now;
      stats.messagesOut++;
      stats.bytesOut += payload.length;
      done(null);
    };
    const socket = message.frame === null ? null : idleSocketOf(ws);
    if (socket !== null) {
      message.frame ??= encodeFrame(payload, binary);
      socket.write(message.frame, sent);
    } else {
      ws.send(payload, { binary }, sent);
    }
  }

  /**
   * The close began: stop pinging, keep reading (the peer's close frame must arrive), and,
   * when we are the closing side, send our close frame and start the close period.
   */
  closeBegan(code: number, reason: string, weSendClose: boolean): void {
    this.#closing = true;
    this.#heartbeat.stop();
    this.#gate.open();
    this.inbound.closeBegan();
    if (!weSendClose) return;
    const ws = this.#ws;
    const { options, info, id } = this.#owner;
    if (ws.readyState === WebSocket.OPEN) {
      try {
        ws.close(code, reason);
        info.frames_sent++;
      } catch (error) {
        options.logger.warn(`close of client ${id} failed; terminating`, error);
        ws.terminate();
      }
    }
    this.#closeTimer = options.clock.setTimeout(() => ws.terminate(), options.closePeriodMs);
  }

  terminate(): void {
    this.#stopTimers();
    this.#ws.terminate();
  }

  #stopTimers(): void {
    const { clock } = this.#owner.options;
    this.#heartbeat.stop();
    if (this.#closeTimer !== null) clock.clearTimeout(this.#closeTimer);
    this.#closeTimer = null;
    // The socket is gone: what still waits is delivered without pacing (C4).
    this.#endRatePause();
  }

  #endRatePause(): void {
    if (this.#rateTimer !== null) this.#owner.options.clock.clearTimeout(this.#rateTimer);
    this.#rateTimer = null;
    const resume = this.#rateResume;
    this.#rateResume = null;
    resume?.();
  }

  #readSomething(): number {
    const info = this.#owner.info;
    const now = this.#owner.options.clock.now();
    info.frames_read++;
    info.last_read_at = now;
    this.#heartbeat.alive();
    return now;
  }

  #onMessage(data: Buffer | Buffer[], isBinary: boolean): void {
    const chunks = Array.isArray(data) ? data : [data];
    const { info, stats, options } = this.#owner;
    const now = this.#readSomething();
    info.frames_read += Math.max(1, chunks.length) - 1; // ws drops empty fragments: count at least one
    info.messages_read++;
    info.last_data_read_at = now;
    stats.messagesIn++;
    for (const chunk of chunks) stats.bytesIn += chunk.length;
    if (!this.inbound.accepting) {
      info.messages_dropped++;
      stats.messagesDropped++;
      return;
    }
    if (isBinary && options.textOnly) {
      info.messages_dropped++;
      stats.messagesDropped++;
      this.#owner.beginClose({ kind: 'limit', code: 1003, reason: 'Binary messages are not accepted' });
      return;
    }
    this.inbound.push(new Message(chunks, isBinary));
  }
}
