/**
 * The Endpoint an app uses to reach its clients. It validates arguments, encodes each
 * payload once, and turns every failure into a result value: no call throws or rejects.
 * Clients of other nodes (ids carry their node id) are reached through the cluster adapter;
 * requests from other nodes are answered by {@link ClientEndpoint.serve}.
 *
 * Adapters are pluggable, so nothing an adapter does is trusted: `request`/`requestAll`
 * throwing, rejecting with something other than a WsActorError, or resolving with anything
 * but a well-formed answer, is a *cluster fault*. The call still resolves: a send, close or
 * multicast with a `WSA_ERR_NODE_UNREACHABLE` failure naming the node, a broadcast with this
 * node's results and `unreachedNodes` of at least 1 (how many nodes missed it is unknown),
 * `getClients` with this node's clients (and those of nodes that answered well), `getInfo`
 * with undefined. A malformed request from another node gets a failure reply from `serve`,
 * which never throws. Each fault is counted ({@link ClientEndpoint.clusterFaults}) and
 * reported to the logger (at most one report per 10 s, with the number of faults between).
 */
import { nodeOf, type ClusterAdapter, type NodeReply, type NodeRequest } from '../cluster/adapter.js';
import type { Logger } from '../runtime/logger.js';
import { isSendableCloseCode, MAX_CLOSE_REASON_BYTES } from '../close-codes.js';
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
import { clientIdsOf, deliveryOf, deliveryReply, infoOf, readRequest, resultReply, sendResultOf } from './wire.js';

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

/** Cluster faults are reported to the logger at most once per this many ms. */
const FAULT_REPORT_MS = 10_000;

function failure(error: WsActorError): SendResult {
  return { ok: false, error };
}

/** Why a close cannot be sent with `code` and `reason`, or null when it can. */
function closeArgumentError(code: number, reason: unknown): InvalidArgumentError | null {
  if (!isSendableCloseCode(code)) {
    return new InvalidArgumentError(ErrorCodes.INVALID_CLOSE_CODE, `Close code ${String(code)} cannot be sent`);
  }
  if (typeof reason !== 'string' || Buffer.byteLength(reason) > MAX_CLOSE_REASON_BYTES) {
    return new InvalidArgumentError(ErrorCodes.INVALID_CLOSE_REASON, 'Close reason must be a string of at most 123 bytes');
  }
  return null;
}

/** The replies of a request to every node, after the endpoint checked the adapter's answer. */
interface Replies {
  readonly replies: readonly unknown[];
  /** Nodes that gave no reply; at least 1 when the adapter failed (the real count is unknown). */
  readonly unreached: number;
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
  readonly #logger: Logger | null;
  #nodeId: number;
  #adapter: ClusterAdapter | null = null;
  #faults = 0;
  /** Faults since the last report, and when that was (0: never). */
  #unreported = 0;
  #reportedAt = 0;

  /** `logger` receives the cluster-fault reports; without one they are only counted. */
  constructor(clients: ClientDirectory, nodeId = 0, logger: Logger | null = null) {
    this.#clients = clients;
    this.#nodeId = nodeId;
    this.#logger = logger;
  }

  /** Cluster faults so far: adapter calls that threw or broke the adapter contract, and malformed replies or requests. */
  get clusterFaults(): number {
    return this.#faults;
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
    const invalid = closeArgumentError(code, reason);
    if (invalid !== null) return failure(invalid);
    const node = this.#remoteNodeOf(clientId);
    if (node === null) return this.#closeLocal(clientId, code, reason);
    return this.#ask<SendResult>(node, { op: 'close', clientId, code, reason }, null, (reply) => sendResultOf(reply, clientId, node), failure);
  }

  /** Undefined also when the client's node cannot be reached or answers badly (a cluster fault). */
  getInfo(clientId: number): Promise<ClientInfo | undefined> {
    const node = this.#remoteNodeOf(clientId);
    if (node === null) return Promise.resolve(this.getLocalInfo(clientId));
    const read = (reply: unknown): ClientInfo | undefined | WsActorError => infoOf(reply, clientId, node) ?? undefined;
    return this.#ask(node, { op: 'info', clientId }, null, read, () => undefined);
  }

  /** This node's clients and those of every node that answered well; the others are left out. */
  async getClients(): Promise<number[]> {
    const local = this.getLocalClients();
    const adapter = this.#adapter;
    if (adapter === null) return local;
    const { replies } = await this.#askAll(adapter, { op: 'clients' }, null);
    for (const reply of replies) {
      const ids = clientIdsOf(reply, null);
      if (ids instanceof WsActorError) this.#fault('a "clients" reply could not be used', ids);
      else for (const id of ids) local.push(id);
    }
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
   * first await, so messages keep the order in which the adapter delivered them. Never
   * throws or rejects: a malformed request (another protocol version, a broken adapter) or
   * a failure while serving gets a `result` reply with a `WSA_ERR_NODE_UNREACHABLE` error,
   * and counts as a cluster fault.
   */
  serve(request: NodeRequest, payload: Buffer | null): NodeReply | Promise<NodeReply> {
    const refuse = (detail: string, cause?: unknown): NodeReply => {
      const error = new NodeUnreachableError(this.#nodeId, detail, cause === undefined ? undefined : { cause });
      this.#fault('a request from another node could not be served', error);
      return resultReply(failure(error));
    };
    try {
      const checked = readRequest(request);
      if (typeof checked === 'string') return refuse(`malformed request: ${checked}`);
      if (payload !== null && !Buffer.isBuffer(payload)) return refuse(`malformed request: the payload of a "${checked.op}" request is no Buffer`);
      const reply = this.#serve(checked, payload);
      if (!(reply instanceof Promise)) return reply;
      return reply.catch((error: unknown) => refuse(`serving a "${checked.op}" request failed: ${describe(error)}`, error));
    } catch (error) {
      return refuse(`serving a request failed: ${describe(error)}`, error);
    }
  }

  #serve(request: NodeRequest, payload: Buffer | null): NodeReply | Promise<NodeReply> {
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
      case 'close': {
        // Checked here as well: a peer of another version must not make us send a bad close frame.
        const invalid = closeArgumentError(request.code, request.reason);
        if (invalid !== null) return resultReply(failure(invalid));
        return this.#closeLocal(request.clientId, request.code, request.reason).then(resultReply);
      }
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

  /**
   * One request to one node; an unreachable node, a failing adapter and a reply `read` cannot
   * use (it returns an error for those, never throws) go through `fail`, never a rejection.
   */
  async #ask<T>(
    node: number,
    request: NodeRequest,
    payload: Buffer | null,
    read: (reply: unknown) => T | WsActorError,
    fail: (error: WsActorError) => T,
  ): Promise<T> {
    const adapter = this.#adapter;
    if (adapter === null) return fail(new NodeUnreachableError(node, 'this node left the cluster'));
    let reply: unknown;
    try {
      reply = await adapter.request(node, request, payload);
    } catch (error) {
      // The contract: a WsActorError when the node cannot be reached (e.g. a timeout).
      if (error instanceof WsActorError) return fail(error);
      const broken = new NodeUnreachableError(node, `the cluster adapter failed: ${describe(error)}`, { cause: error });
      this.#fault(`request() to node ${node} threw or rejected with no WsActorError`, broken);
      return fail(broken);
    }
    const result = read(reply);
    if (!(result instanceof WsActorError)) return result;
    this.#fault(`the reply of node ${node} to a "${request.op}" request could not be used`, result);
    return fail(result);
  }

  /**
   * `requestAll`, guarded: resolves with the replies (unread) whatever the adapter does. A
   * throw, a rejection or an answer of another shape is a fault: no replies, and at least
   * one node unreached. Calls `requestAll` synchronously, so its publish starts now.
   */
  #askAll(adapter: ClusterAdapter, request: NodeRequest, payload: Buffer | null): Promise<Replies> {
    const broken = (what: string, error: unknown): Replies => {
      this.#fault(`requestAll() ${what}`, error);
      return { replies: [], unreached: 1 };
    };
    let pending: unknown;
    try {
      pending = adapter.requestAll(request, payload);
    } catch (error) {
      return Promise.resolve(broken('threw', error));
    }
    const read = (gathered: unknown): Replies => {
      try {
        const fields = typeof gathered === 'object' && gathered !== null ? (gathered as Readonly<Record<string, unknown>>) : {};
        const { replies, unreached } = fields;
        const count = typeof unreached === 'number' && Number.isSafeInteger(unreached) && unreached >= 0 ? unreached : null;
        if (!Array.isArray(replies)) return broken('resolved with no replies array', gathered);
        const copy: unknown[] = [...(replies as unknown[])];
        if (count === null) {
          this.#fault('requestAll() resolved with no unreached count', gathered);
          return { replies: copy, unreached: 1 };
        }
        return { replies: copy, unreached: count };
      } catch (error) {
        return broken('resolved with an answer that could not be read', error);
      }
    };
    return Promise.resolve(pending).then(read, (error: unknown) => broken('rejected', error));
  }

  /** Counts a cluster fault and reports it, at most once per {@link FAULT_REPORT_MS}. */
  #fault(what: string, error: unknown): void {
    this.#faults++;
    const logger = this.#logger;
    if (logger === null) return;
    const now = Date.now();
    if (this.#reportedAt !== 0 && now - this.#reportedAt < FAULT_REPORT_MS) {
      this.#unreported++;
      return;
    }
    const more = this.#unreported === 0 ? '' : ` (${this.#unreported} more cluster faults since the last report)`;
    this.#reportedAt = now;
    this.#unreported = 0;
    try {
      logger.error(`cluster fault: ${what}${more}`, error);
    } catch {
      // A throwing logger must not make an Endpoint call reject either.
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
    if (node !== null) return this.#ask<SendResult>(node, { op: 'send', clientId, binary }, payload, (reply) => sendResultOf(reply, clientId, node), failure);
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
    const gathered = this.#askAll(adapter, { op: 'broadcast', binary, except: remoteExcept }, payload);
    const local = this.#deliver(payload, binary, this.#allExcept(except));
    const [mine, { replies, unreached }] = await Promise.all([local, gathered]);
    const sent = [...mine.sent];
    const failed = [...mine.failed];
    let unreadable = 0; // a reply of another kind: that node's clients are in neither list
    for (const reply of replies) {
      const result = deliveryOf(reply, null);
      if (result instanceof WsActorError) {
        unreadable++;
        this.#fault('a "broadcast" reply could not be used', result);
      } else {
        for (const id of result.sent) sent.push(id);
        for (const f of result.failed) failed.push(f);
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
      parts.push(this.#ask<BroadcastResult>(node, { op: 'multicast', binary, clientIds: nodeIds }, payload, (reply) => deliveryOf(reply, node), failAll));
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
