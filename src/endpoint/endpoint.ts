/**
 * The Endpoint an app uses to reach its clients. It validates arguments, encodes each
 * payload once, and turns every failure into a result value: no call throws or rejects.
 */
import { isSendableCloseCode } from '../close-codes.js';
import { ClientClosingError, ErrorCodes, InvalidArgumentError, UnknownClientError, type WsActorError } from '../errors.js';
import type { ClientInfo } from './client-info.js';
import type { BinaryData, BroadcastResult, Endpoint, SendResult } from './types.js';

/** What the Endpoint needs from one live connection. */
export interface ClientPort {
  readonly id: number;
  readonly closing: boolean;
  send(payload: Buffer, binary: boolean): Promise<SendResult>;
  /** Callback form used by broadcasts: one encoded frame, no promise per client. */
  write(message: OutboundMessage, done: (error: WsActorError | null) => void): void;
  closeByApp(code: number, reason: string): void;
  info(): ClientInfo;
}

/** A message on its way out; `frame` is encoded once, by the first client that can use it. */
export interface OutboundMessage {
  readonly payload: Buffer;
  readonly binary: boolean;
  frame: Buffer | null | undefined;
}

/** Open connections by id, owned by the runtime. */
export type ClientDirectory = ReadonlyMap<number, ClientPort>;

const MAX_CLOSE_REASON_BYTES = 123;

function failure(error: WsActorError): SendResult {
  return { ok: false, error };
}

function toPayload(data: unknown, binary: boolean): Buffer | WsActorError {
  if (!binary) {
    if (typeof data === 'string') return Buffer.from(data, 'utf8');
    return new InvalidArgumentError(ErrorCodes.INVALID_DATA, 'Text data must be a string');
  }
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof Uint8Array) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  return new InvalidArgumentError(ErrorCodes.INVALID_DATA, 'Binary data must be a Buffer, Uint8Array or ArrayBuffer');
}

function isGenerator(value: unknown): value is Generator<number> {
  return Object.prototype.toString.call(value) === '[object Generator]';
}

export class ClientEndpoint implements Endpoint {
  readonly #clients: ClientDirectory;

  constructor(clients: ClientDirectory) {
    this.#clients = clients;
  }

  send(data: string, clientId: number): Promise<SendResult> {
    return this.#sendOne(data, clientId, false);
  }

  sendBinary(data: BinaryData, clientId: number): Promise<SendResult> {
    return this.#sendOne(data, clientId, true);
  }

  broadcast(data: string, exceptIds: readonly number[] = []): Promise<BroadcastResult> {
    return this.#sendMany(data, false, this.#allExcept(exceptIds));
  }

  broadcastBinary(data: BinaryData, exceptIds: readonly number[] = []): Promise<BroadcastResult> {
    return this.#sendMany(data, true, this.#allExcept(exceptIds));
  }

  multicast(data: string, clientIds: readonly number[]): Promise<BroadcastResult> {
    return this.#sendMany(data, false, clientIds);
  }

  multicastBinary(data: BinaryData, clientIds: readonly number[]): Promise<BroadcastResult> {
    return this.#sendMany(data, true, clientIds);
  }

  close(clientId: number, code = 1000, reason = ''): Promise<SendResult> {
    if (!isSendableCloseCode(code)) {
      return Promise.resolve(
        failure(new InvalidArgumentError(ErrorCodes.INVALID_CLOSE_CODE, `Close code ${String(code)} cannot be sent`)),
      );
    }
    if (typeof reason !== 'string' || Buffer.byteLength(reason) > MAX_CLOSE_REASON_BYTES) {
      return Promise.resolve(
        failure(new InvalidArgumentError(ErrorCodes.INVALID_CLOSE_REASON, 'Close reason must be a string of at most 123 bytes')),
      );
    }
    const client = this.#clients.get(clientId);
    if (client === undefined) return Promise.resolve(failure(new UnknownClientError(clientId)));
    if (client.closing) return Promise.resolve(failure(new ClientClosingError(clientId)));
    client.closeByApp(code, reason);
    return Promise.resolve({ ok: true });
  }

  getInfo(clientId: number): ClientInfo | undefined {
    return this.#clients.get(clientId)?.info();
  }

  getClients(): number[] {
    return [...this.#clients.keys()];
  }

  #sendOne(data: unknown, clientId: number, binary: boolean): Promise<SendResult> {
    const payload = toPayload(data, binary);
    if (!Buffer.isBuffer(payload)) return Promise.resolve(failure(payload));
    const client = this.#clients.get(clientId);
    if (client === undefined) return Promise.resolve(failure(new UnknownClientError(clientId)));
    return client.send(payload, binary);
  }

  async #sendMany(data: unknown, binary: boolean, clientIds: Iterable<number>): Promise<BroadcastResult> {
    if (!Array.isArray(clientIds) && !isGenerator(clientIds)) {
      const error = new InvalidArgumentError(ErrorCodes.INVALID_DATA, 'clientIds must be an array of client ids');
      return { sent: [], failed: [{ clientId: Number.NaN, error }] };
    }
    const payload = toPayload(data, binary);
    const ids: number[] = [...(clientIds as Iterable<number>)];
    if (!Buffer.isBuffer(payload)) {
      return { sent: [], failed: ids.map((clientId) => ({ clientId, error: payload })) };
    }
    // Every write is issued synchronously, so per-client order with single sends holds; the
    // frame is encoded once for all clients.
    const message: OutboundMessage = { payload, binary, frame: undefined };
    const errors: (WsActorError | null)[] = new Array<WsActorError | null>(ids.length).fill(null);
    let pending = ids.length;
    await new Promise<void>((resolve) => {
      if (pending === 0) resolve();
      ids.forEach((id, index) => {
        const done = (error: WsActorError | null): void => {
          errors[index] = error;
          if (--pending === 0) resolve();
        };
        const client = this.#clients.get(id);
        if (client === undefined) done(new UnknownClientError(id));
        else client.write(message, done);
      });
    });
    const sent: number[] = [];
    const failed: { clientId: number; error: WsActorError }[] = [];
    ids.forEach((clientId, index) => {
      const error = errors[index];
      if (error === null || error === undefined) sent.push(clientId);
      else failed.push({ clientId, error });
    });
    return { sent, failed };
  }

  *#allExcept(exceptIds: readonly number[]): Iterable<number> {
    const except = new Set(Array.isArray(exceptIds) ? exceptIds : []);
    for (const id of this.#clients.keys()) if (!except.has(id)) yield id;
  }
}
