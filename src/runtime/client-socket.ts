/**
 * The I/O side of one open connection: the `ws` socket with its counters, the inbound queue
 * and read gate, the rate window, the heartbeat and the close period (outbound writes are in
 * the base class, Outbound). Lifecycle decisions stay with the Connection (which extends this
 * class) and its actor; this reports what happened on the wire and does what it is told.
 *
 * Memory: an idle connection is one object. The socket hands its events to it (no listeners),
 * the heartbeat is a node of the server's sweep, the read gate is a number, and the inbound
 * queue exists only while in use.
 */
import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import { closeCodeForWsError } from '../close-codes.js';
import { HeartbeatSweep, type HeartbeatMember } from './heartbeat.js';
import { InboundQueue, type InboundOwner } from './inbound-queue.js';
import type { OwnedWebSocket, WsEventSink } from './limited-websocket.js';
import { Message } from './message.js';
import { closeFrameSent } from './ws-internals.js';
import { Outbound, type SocketHost } from './outbound.js';
import { PauseReason, RateWindow } from './read-gate.js';

type CountedSocket = Duplex & { bytesRead?: number; bytesWritten?: number };

const PAUSED = PauseReason.BACKLOG | PauseReason.RATE;

export abstract class ClientSocket extends Outbound implements HeartbeatMember, InboundOwner, WsEventSink {
  protected readonly socket: CountedSocket;
  /** Null while idle (and until upgraded). */
  protected inbound: InboundQueue | null = null;
  #bytesReadBase = 0;
  #bytesWrittenBase = 0;
  /** PauseReason bits that hold reading. */
  #io = 0;
  #rate: RateWindow | null = null;
  #closeTimer: unknown = null;
  hbIndex = -1;
  hbDue = 0;
  hbUnanswered = 0;

  constructor(id: number, host: SocketHost, socket: Duplex) {
    super(id, host, (socket as { remoteAddress?: string }).remoteAddress ?? null);
    this.socket = socket;
  }

  /** Runs `onData`; see InboundOwner.deliver. */
  abstract deliver(message: Message): boolean | PromiseLike<unknown>;
  abstract deliveryFailed(error: unknown): void;
  /** Nothing waits or runs any more after the close began. */
  abstract drained(): void;
  protected abstract socketClosed(code: number, reason: Buffer): void;

  /** Takes over the upgraded socket: counters from here, its events, heartbeat, inbound queue. */
  protected attachSocket(ws: WebSocket): void {
    const { options } = this.host;
    this.attachOutbound(ws);
    this.#bytesReadBase = this.socket.bytesRead ?? 0;
    this.#bytesWrittenBase = this.socket.bytesWritten ?? 0;
    ws.binaryType = 'fragments';
    (ws as OwnedWebSocket).owner = this;
    if (options.maxBytesPerSecond !== null || options.maxMessagesPerSecond !== null) {
      this.#rate = new RateWindow(options.maxBytesPerSecond, options.maxMessagesPerSecond);
    }
    this.inbound = new InboundQueue(this, options.concurrency, options.maxQueuedMessages, options.maxQueuedBytes, false);
    this.host.services.heartbeat.add(this);
  }

  /** The `ws` socket's events (see OwnedWebSocket). */
  wsEvent(event: string | symbol, a: unknown, b: unknown): boolean {
    switch (event) {
      case 'message':
        this.#onMessage(a as Buffer | Buffer[], b as boolean);
        return true;
      case 'ping':
        this.#readSomething();
        this.frames_sent++; // ws answers with a pong itself
        return true;
      case 'pong':
        this.#readSomething();
        return true;
      case 'error': {
        // Receiver errors: ws has already sent the matching close frame, unless ours went out
        // first (closeIo counted it) or the socket was ended or gone (ws sent nothing).
        if (!this.closeBegan && this.socket.writable) this.frames_sent++;
        const error = a as Error & { code?: string };
        this.beginClose({ kind: 'protocol', code: closeCodeForWsError(error.code), reason: error.message });
        return true;
      }
      case 'close':
        this.#stopTimers();
        // 1006 iff no close frame came from the peer (no peer can send 1006). If it came before
        // our close began, ws answered it by itself: count that answer once ws wrote it
        // (a ws internal, see ws-internals.ts; test/integration/message-frames.test.ts pins it).
        if (a !== 1006) {
          this.frames_read++;
          if (!this.closeBegan && closeFrameSent(this.ws as WebSocket)) this.frames_sent++;
        }
        this.socketClosed(a as number, b as Buffer);
        return true;
      default:
        return false;
    }
  }

  /** The peer's close frame arrived (ws answered it) or ws closed for a protocol error. */
  get peerClosing(): boolean {
    return this.ws !== null && this.ws.readyState !== WebSocket.OPEN;
  }

  protected override bytesCounted(): { read: number; sent: number } {
    if (this.ws === null) return { read: 0, sent: 0 };
    return { read: (this.socket.bytesRead ?? 0) - this.#bytesReadBase, sent: (this.socket.bytesWritten ?? 0) - this.#bytesWrittenBase };
  }

  // HeartbeatMember
  lastReadTime(): number {
    return this.last_read_at ?? this.connected_at;
  }

  ping(): void {
    this.ws?.ping();
    this.frames_sent++;
  }

  giveUp(): void {
    this.beginClose({ kind: 'limit', code: 1008, reason: 'Exceeded unanswered PING limit' });
  }

  // InboundOwner: the read gate, and rate limits (counted as messages go to onData, so a burst
  // already read is spread out too).
  hold(reason: number): void {
    const before = this.#io & PAUSED;
    if ((before & reason) === 0) {
      if (reason === PauseReason.BACKLOG) this.host.stats.backlogPauses++;
      else this.host.stats.ratePauses++;
    }
    this.#io |= reason;
    if (before === 0) this.ws?.pause();
  }

  release(reason: number): void {
    if ((this.#io & reason) === 0) return;
    this.#io &= ~reason;
    if ((this.#io & PAUSED) === 0) this.ws?.resume();
  }

  pace(message: Message): number {
    return this.#rate === null ? 0 : this.#rate.record(message.size, this.host.options.clock.now());
  }

  after(ms: number, callback: () => void): void {
    this.#rate?.pause(this.host.options.clock, ms, callback);
  }

  /** Drops the inbound queue if nothing uses it; a new one is made for the next message. */
  protected releaseIdleQueue(): boolean {
    if (this.inbound !== null && !this.inbound.idle) return false;
    this.inbound = null;
    return true;
  }

  #queue(): InboundQueue {
    const { options } = this.host;
    this.inbound ??= new InboundQueue(this, options.concurrency, options.maxQueuedMessages, options.maxQueuedBytes, true);
    return this.inbound;
  }

  /** Stops further delivery (hook failure or app close); returns how many messages were dropped. */
  protected haltInbound(): number {
    return this.#queue().halt();
  }

  /**
   * The close began: stop pinging, keep reading (the peer's close frame must arrive), and,
   * when we are the closing side, send our close frame and start the close period.
   */
  protected closeIo(code: number, reason: string, weSendClose: boolean): void {
    this.host.services.heartbeat.remove(this);
    if ((this.#io & PAUSED) !== 0) {
      this.#io &= ~PAUSED;
      this.ws?.resume();
    }
    if (this.inbound === null) this.drained();
    else this.inbound.closeBegan();
    // Broadcasts called before the close began go out before our close frame.
    this.closeOutbound();
    const ws = this.ws;
    if (!weSendClose || ws === null) return;
    const { options } = this.host;
    if (ws.readyState === WebSocket.OPEN) {
      try {
        ws.close(code, reason);
        this.frames_sent++;
      } catch (error) {
        options.logger.warn(`close of client ${this.id} failed; terminating`, error);
        ws.terminate();
      }
    }
    this.#closeTimer = options.clock.setTimeout(() => ws.terminate(), options.closePeriodMs);
  }

  protected terminateIo(): void {
    this.#stopTimers();
    this.ws?.terminate();
  }

  #stopTimers(): void {
    const { clock } = this.host.options;
    this.host.services.heartbeat.remove(this);
    if (this.#closeTimer !== null) clock.clearTimeout(this.#closeTimer);
    this.#closeTimer = null;
    // The socket is gone: what still waits is delivered without pacing (C4).
    this.#rate?.endPause(clock);
  }

  #readSomething(): number {
    const now = this.host.options.clock.now();
    this.frames_read++;
    this.last_read_at = now;
    HeartbeatSweep.alive(this);
    return now;
  }

  #onMessage(data: Buffer | Buffer[], isBinary: boolean): void {
    const chunks = Array.isArray(data) ? data : [data];
    const { stats, options } = this.host;
    const now = this.#readSomething();
    this.frames_read += Math.max(1, chunks.length) - 1; // ws drops empty fragments: count at least one
    this.messages_read++;
    this.last_data_read_at = now;
    stats.messagesIn++;
    for (const chunk of chunks) stats.bytesIn += chunk.length;
    if (this.closeBegan || (this.inbound !== null && !this.inbound.accepting)) {
      this.messages_dropped++;
      stats.messagesDropped++;
      return;
    }
    if (isBinary && options.textOnly) {
      this.messages_dropped++;
      stats.messagesDropped++;
      this.beginClose({ kind: 'limit', code: 1003, reason: 'Binary messages are not accepted' });
      return;
    }
    this.#queue().push(new Message(chunks, isBinary));
  }
}
