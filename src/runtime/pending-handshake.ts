/**
 * What a connection holds only while handshaking (dropped once `onOpen` runs): the upgrade
 * request, the handshake timer, the raw socket's 'close' listener, what `onHandshake`
 * decided and the data it returned. Running the hook and writing an HTTP rejection are here;
 * which event that becomes is the Connection's (and its machine's) business.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { clipCloseReason } from '../close-codes.js';
import type { Websocket } from '../types.js';
import type { Clock } from './clock.js';
import { createHandshakeRequest, HandshakeDecision, writeHttpRejection } from './handshake.js';
import { callHook, type HookOutcome } from './hooks.js';

export interface UpgradeRequest {
  req: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  subprotocols: string[];
}

export class PendingHandshake {
  /** Null once upgraded (ws owns the request then). */
  upgrade: UpgradeRequest | null;
  decision: HandshakeDecision | null = null;
  /** What `onHandshake` returned: `onOpen`'s second argument. */
  data: unknown = undefined;
  rejectStatus: number | null = null;
  /** The rejection's body as a reason for the lifecycle stream (at most 123 bytes). */
  rejectReason: string | null = null;
  #timer: unknown = null;

  constructor(
    upgrade: UpgradeRequest,
    private readonly clock: Clock,
    /** The raw socket's 'close' listener, until upgraded. */
    private readonly onSocketClose: () => void,
  ) {
    this.upgrade = upgrade;
    upgrade.socket.on('close', onSocketClose);
  }

  /** `onTimeout` runs if the handshake is still pending after `ms`. */
  startTimer(ms: number, onTimeout: () => void): void {
    this.#timer = this.clock.setTimeout(() => {
      this.#timer = null;
      onTimeout();
    }, ms);
  }

  /** Runs `onHandshake` (if the app has one); the decision is settled when this resolves. */
  async decide(app: Websocket<unknown>): Promise<{ outcome: HookOutcome<unknown>; decision: HandshakeDecision }> {
    const { req, subprotocols } = this.upgrade as UpgradeRequest;
    const decision = new HandshakeDecision(subprotocols);
    const outcome =
      app.onHandshake === undefined
        ? { ok: true as const, value: undefined }
        : await callHook(() => app.onHandshake?.(createHandshakeRequest(req, subprotocols), decision));
    decision.settled = true;
    return { outcome, decision };
  }

  /** Writes the HTTP rejection: the app's body and headers when it rejected with this status. */
  reject(socket: Duplex, status: number): void {
    this.rejectStatus = status;
    const decision = this.decision;
    const body = decision?.rejection?.status === status ? decision.rejection.body : defaultBody(status);
    this.rejectReason = clipCloseReason(body);
    writeHttpRejection(socket, status, body, decision?.headers ?? []);
  }

  /** The 101 was written: ws owns the request and the socket's events now. */
  upgraded(): void {
    this.stopWatch();
    this.upgrade = null;
    this.decision = null;
  }

  /** Clears the timer and the raw socket's 'close' listener. Idempotent. */
  stopWatch(socket: Duplex | null = null): void {
    if (this.#timer !== null) this.clock.clearTimeout(this.#timer);
    this.#timer = null;
    (socket ?? this.upgrade?.socket)?.off('close', this.onSocketClose);
  }
}

function defaultBody(status: number): string {
  return status === 503 ? 'Service Unavailable' : status === 500 ? 'Internal Server Error' : '';
}
