/**
 * The Endpoint an app uses to reach its clients. It validates arguments, encodes each
 * payload once, and turns every failure into a result value: no call throws or rejects.
 * Clients of other nodes (ids carry their node id) are reached through the cluster adapter;
 * requests from other nodes are answered by {@link ClientEndpoint.serve}.
 */
import { nodeOf, type ClusterAdapter, type NodeReply, type NodeRequest } from '../cluster/adapter.js';
import { isSendableCloseCode } from '../close-codes.js';
import {
  ClientClosingError,
  describe,
  ErrorCodes,
  InvalidArgumentError,
  NodeUnreachableError,
  UnknownClientError,
  WsActorError,
} from '../errors.js';
import type { ClientInfo } from './client-info.js';
import type { BinaryData, BroadcastResult, Endpoint, SendResult } from './types.js';
import { deliveryOf, deliveryReply, resultReply, sendResultOf } from './wire.js';

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

function asWsActorError(error: unknown): WsActorError {
  if (error instanceof WsActorError) return error;
  return new NodeUnreachableError(null, describe(error), { cause: error });
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

function isIterable(value: unknown): value is Iterable<unknown> {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return false;
  return typeof (value as { [Symbol.iterator]?: unknown })[Symbol.iterator] === 'function';
}

/**
 * The ids of an id list, each once, in first-seen order. Any iterable but a string (whose
 * items are characters) will do; anything else, or an iterable that throws, gives the error.
 * Items are not checked here: one that is no client's id fails (multicast) or matches no
 * client (broadcast except) like any unknown id.
 */
function uniqueIds(ids: unknown, name: string): number[] | InvalidArgumentError {
  let isString = typeof ids === 'string';
  try {
    isString ||= ids instanceof String;
    if (!isString && isIterable(ids)) return [...new Set(ids as Iterable<number>)];
  } catch (error) {
    return new InvalidArgumentError(ErrorCodes.INVALID_CLIENT_IDS, `${name} could not be iterated: ${describe(error)}`, { cause: error });
  }
  const got = isString ? 'a string' : ids === null ? 'null' : typeof ids;
  return new InvalidArgumentError(ErrorCodes.INVALID_CLIENT_IDS, `${name} must be an iterable of client ids (an Array, a Set...), not ${got}`);
}

/** A bad id list: nothing was sent, and the one failure has no client id. */
function invalidIds(error: WsActorError): BroadcastResult {
  return { sent: [], failed: [{ clientId: Number.NaN, error }] };
}

export class ClientEndpoint implements Endpoint {
  readonly #clients: ClientDirectory;
  #nodeId: number;
  #adapter: ClusterAdapter | null = null;

  constructor(clients: ClientDirectory, nodeId = 0) {
    this.#clients = clients;
    this.#nodeId = nodeId;
  }

  /** This node's id: the high bits of its clients' ids. */
  get nodeId(): number {
    return this.#nodeId;
  }

  /** Called by the server once it joined a cluster: other nodes' clients are reachable from now on. */
  joined(nodeId: number, adapter: ClusterAdapter): void {
    this.#nodeId = nodeId;
    this.#adapter = adapter;
  }

  /** Called by the server once it left the cluster. */
  left(): void {
    this.#adapter = null;
  }

  send(data: string, clientId: number): Promise<SendResult> {
    return this.#sendOne(data, clientId, false);
  }

  sendBinary(data: BinaryData, clientId: number): Promise<SendResult> {
    return this.#sendOne(data, clientId, true);
  }

  broadcast(data: string, exceptIds?: Iterable<number>): Promise<BroadcastResult> {
    return this.#broadcast(data, false, exceptIds);
  }

  broadcastBinary(data: BinaryData, exceptIds?: Iterable<number>): Promise<BroadcastResult> {
    return this.#broadcast(data, true, exceptIds);
  }

  multicast(data: string, clientIds: Iterable<number>): Promise<BroadcastResult> {
    return this.#multicast(data, false, clientIds);
  }

  multicastBinary(data: BinaryData, clientIds: Iterable<number>): Promise<BroadcastResult> {
    return this.#multicast(data, true, clientIds);
  }

  async close(clientId: number, code = 1000, reason = ''): Promise<SendResult> {
    if (!isSendableCloseCode(code)) {
      return failure(new InvalidArgumentError(ErrorCodes.INVALID_CLOSE_CODE, `Close code ${String(code)} cannot be sent`));
    }
    if (typeof reason !== 'string' || Buffer.byteLength(reason) > MAX_CLOSE_REASON_BYTES) {
      return failure(new InvalidArgumentError(ErrorCodes.INVALID_CLOSE_REASON, 'Close reason must be a string of at most 123 bytes'));
    }
    const node = this.#remoteNodeOf(clientId);
    if (node === null) return this.#closeLocal(clientId, code, reason);
    return this.#ask(node, { op: 'close', clientId, code, reason }, null, (reply) => sendResultOf(reply, clientId), failure);
  }

  getInfo(clientId: number): Promise<ClientInfo | undefined> {
    const node = this.#remoteNodeOf(clientId);
    if (node === null) return Promise.resolve(this.getLocalInfo(clientId));
    const read = (reply: NodeReply): ClientInfo | undefined => (reply.op === 'info' ? (reply.info ?? undefined) : undefined);
    return this.#ask(node, { op: 'info', clientId }, null, read, () => undefined);
  }

  async getClients(): Promise<number[]> {
    const local = this.getLocalClients();
    if (this.#adapter === null) return local;
    const { replies } = await this.#adapter.requestAll({ op: 'clients' }, null);
    for (const reply of replies) if (reply.op === 'clients') local.push(...reply.clientIds);
    return local;
  }

  getLocalInfo(clientId: number): ClientInfo | undefined {
    return this.#clients.get(clientId)?.info();
  }

  /** Open clients whose close has not begun: those a send can still reach. */
  getLocalClients(): number[] {
    const ids: number[] = [];
    for (const [id, client] of this.#clients) if (!client.closing) ids.push(id);
    return ids;
  }

  /**
   * Answers another node's request from this node's clients. Every write starts before the
   * first await, so messages keep the order in which the adapter delivered them.
   */
  serve(request: NodeRequest, payload: Buffer | null): NodeReply | Promise<NodeReply> {
    switch (request.op) {
      case 'send': {
        const client = this.#clients.get(request.clientId);
        if (client === undefined || payload === null) return resultReply({ ok: false, error: new UnknownClientError(request.clientId) });
        return client.send(payload, request.binary).then(resultReply);
      }
      case 'broadcast':
        return this.#deliver(payload ?? Buffer.alloc(0), request.binary, this.#allExcept(request.except)).then(deliveryReply);
      case 'multicast': // a peer may repeat an id; each counts once here as well
        return this.#deliver(payload ?? Buffer.alloc(0), request.binary, new Set(request.clientIds)).then(deliveryReply);
      case 'close':
        return this.#closeLocal(request.clientId, request.code, request.reason).then(resultReply);
      case 'clients':
        return { op: 'clients', clientIds: this.getLocalClients() };
      case 'info':
        return { op: 'info', info: this.getLocalInfo(request.clientId) ?? null };
    }
  }

  /** The other node that holds `clientId`, or null when it is (or would be) ours. */
  #remoteNodeOf(clientId: number): number | null {
    if (this.#adapter === null || this.#clients.has(clientId) || !Number.isSafeInteger(clientId) || clientId <= 0) return null;
    const node = nodeOf(clientId);
    return node === this.#nodeId ? null : node;
  }

  /** One request to one node; an unreachable node goes through `fail`, never a rejection. */
  async #ask<T>(node: number, request: NodeRequest, payload: Buffer | null, read: (reply: NodeReply) => T, fail: (error: WsActorError) => T): Promise<T> {
    const adapter = this.#adapter;
    if (adapter === null) return fail(new NodeUnreachableError(node, 'this node left the cluster'));
    try {
      return read(await adapter.request(node, request, payload));
    } catch (error) {
      return fail(asWsActorError(error));
    }
  }

  #closeLocal(clientId: number, code: number, reason: string): Promise<SendResult> {
    const client = this.#clients.get(clientId);
    if (client === undefined) return Promise.resolve(failure(new UnknownClientError(clientId)));
    if (client.closing) return Promise.resolve(failure(new ClientClosingError(clientId)));
    client.closeByApp(code, reason);
    return Promise.resolve({ ok: true });
  }

  /** Not async: a local send returns the client's own promise, with no extra microtask hops. */
  #sendOne(data: unknown, clientId: number, binary: boolean): Promise<SendResult> {
    const payload = toPayload(data, binary);
    if (!Buffer.isBuffer(payload)) return Promise.resolve(failure(payload));
    const client = this.#clients.get(clientId);
    if (client !== undefined) return client.send(payload, binary);
    const node = this.#remoteNodeOf(clientId);
    if (node !== null) return this.#ask(node, { op: 'send', clientId, binary }, payload, (reply) => sendResultOf(reply, clientId), failure);
    return Promise.resolve(failure(new UnknownClientError(clientId)));
  }

  async #broadcast(data: unknown, binary: boolean, exceptIds: unknown): Promise<BroadcastResult> {
    const except = exceptIds === undefined || exceptIds === null ? [] : uniqueIds(exceptIds, 'exceptIds');
    if (!Array.isArray(except)) return invalidIds(except);
    const payload = toPayload(data, binary);
    if (!Buffer.isBuffer(payload)) {
      return { sent: [], failed: [...this.#allExcept(except)].map((clientId) => ({ clientId, error: payload })) };
    }
    const adapter = this.#adapter;
    if (adapter === null) return this.#deliver(payload, binary, this.#allExcept(except));
    // The publish first, so other nodes write while this one does; both start now, so every
    // client's order with earlier and later calls holds.
    const remoteExcept = except.filter((id) => this.#remoteNodeOf(id) !== null);
    const gathered = adapter.requestAll({ op: 'broadcast', binary, except: remoteExcept }, payload);
    const local = this.#deliver(payload, binary, this.#allExcept(except));
    const [mine, { replies, unreached }] = await Promise.all([local, gathered]);
    const sent = [...mine.sent];
    const failed = [...mine.failed];
    let unreadable = 0; // a reply of another kind: that node's clients are in neither list
    for (const reply of replies) {
      const result = deliveryOf(reply);
      if (result instanceof Error) unreadable++;
      else {
        sent.push(...result.sent);
        failed.push(...result.failed);
      }
    }
    return { sent, failed, unreachedNodes: unreached + unreadable };
  }

  async #multicast(data: unknown, binary: boolean, clientIds: unknown): Promise<BroadcastResult> {
    // Deduplicated before the split by node, so an id is written, and listed, once.
    const ids = uniqueIds(clientIds, 'clientIds');
    if (!Array.isArray(ids)) return invalidIds(ids);
    const payload = toPayload(data, binary);
    if (!Buffer.isBuffer(payload)) return { sent: [], failed: ids.map((clientId) => ({ clientId, error: payload })) };
    const local: number[] = [];
    const remote = new Map<number, number[]>();
    for (const id of ids) {
      const node = this.#remoteNodeOf(id);
      if (node === null) local.push(id);
      else {
        const nodeIds = remote.get(node);
        if (nodeIds === undefined) remote.set(node, [id]);
        else nodeIds.push(id);
      }
    }
    const parts = [this.#deliver(payload, binary, local)];
    for (const [node, nodeIds] of remote) {
      const failAll = (error: WsActorError): BroadcastResult => ({ sent: [], failed: nodeIds.map((clientId) => ({ clientId, error })) });
      const read = (reply: NodeReply): BroadcastResult => {
        const result = deliveryOf(reply);
        return result instanceof Error ? failAll(result) : result;
      };
      parts.push(this.#ask(node, { op: 'multicast', binary, clientIds: nodeIds }, payload, read, failAll));
    }
    const results = await Promise.all(parts);
    return { sent: results.flatMap((r) => r.sent), failed: results.flatMap((r) => r.failed) };
  }

  /** Writes one payload to this node's clients `ids`; the frame is encoded once for all. */
  async #deliver(payload: Buffer, binary: boolean, clientIds: Iterable<number>): Promise<BroadcastResult> {
    const ids = [...clientIds];
    // Every write is issued synchronously, so per-client order with single sends holds.
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

  *#allExcept(exceptIds: Iterable<number>): Iterable<number> {
    const except = new Set(exceptIds);
    // A client whose close began is no broadcast target (it would only be reported failed).
    for (const [id, client] of this.#clients) if (!client.closing && !except.has(id)) yield id;
  }
}
