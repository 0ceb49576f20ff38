import type { WsActorError } from '../errors.js';
import type { ClientInfo } from './client-info.js';

/** Outcome of a send to one client. Never rejects: failures come back as `ok: false`. */
export type SendResult = { readonly ok: true } | { readonly ok: false; readonly error: WsActorError };

/** Outcome of a broadcast or multicast: which clients got the data, which failed and why. */
export interface BroadcastResult {
  readonly sent: readonly number[];
  readonly failed: readonly { readonly clientId: number; readonly error: WsActorError }[];
  /**
   * Broadcasts in a cluster only: other nodes that did not answer in time (or Redis was
   * down) or answered with a reply that could not be read; their clients are in neither list,
   * and the adapter counts the miss. At least 1 when the cluster adapter itself failed (threw,
   * rejected or resolved garbage): how many nodes missed the broadcast is then unknown.
   */
  readonly unreachedNodes?: number;
}

/** Binary payloads an Endpoint accepts. */
export type BinaryData = Buffer | Uint8Array | ArrayBuffer;

/**
 * How an app talks to its clients; handed to `onStart`. No method throws or rejects, for a
 * bad client id or argument, or whatever a cluster adapter does; sends resolve once the data
 * was handed to the OS, and sends to one client keep call order, broadcasts included. With a
 * cluster adapter every call also reaches clients of other nodes (a client id names its
 * node); results then wait for the other node's answer, and a node that cannot be reached
 * or answers badly gives `WSA_ERR_NODE_UNREACHABLE` failures.
 */
export interface Endpoint {
  /** Sends a text message to one client. */
  send(data: string, clientId: number): Promise<SendResult>;
  /** Sends a binary message to one client. */
  sendBinary(data: BinaryData, clientId: number): Promise<SendResult>;
  /**
   * Sends a text message to every open client whose close has not begun (a client leaving,
   * e.g. inside its own `onClose`, is no target) except `exceptIds` (any iterable of ids: an
   * Array, a Set, a generator...; omitted, undefined or null: none); encodes it once.
   * An `exceptIds` that is no iterable of ids (a number, a string, a plain object) sends
   * nothing and gives one failure with id NaN, an `InvalidArgumentError` with code
   * `WSA_ERR_INVALID_CLIENT_IDS`.
   */
  broadcast(data: string, exceptIds?: Iterable<number>): Promise<BroadcastResult>;
  /** Binary form of {@link Endpoint.broadcast}. */
  broadcastBinary(data: BinaryData, exceptIds?: Iterable<number>): Promise<BroadcastResult>;
  /**
   * Sends a text message to the clients `clientIds` (any iterable of ids, as for
   * {@link Endpoint.broadcast}); an id listed twice is sent to, and reported in `sent` or
   * `failed`, once. A `clientIds` that is no iterable of ids (including null and undefined)
   * sends nothing and gives one failure with id NaN and code `WSA_ERR_INVALID_CLIENT_IDS`.
   */
  multicast(data: string, clientIds: Iterable<number>): Promise<BroadcastResult>;
  /** Binary form of {@link Endpoint.multicast}. */
  multicastBinary(data: BinaryData, clientIds: Iterable<number>): Promise<BroadcastResult>;
  /**
   * Begins closing a client (default code 1000). Resolves once the close began; `onClose`
   * follows when the socket is gone. Unknown/closing clients and invalid codes give `ok: false`.
   */
  close(clientId: number, code?: number, reason?: string): Promise<SendResult>;
  /**
   * Counters and timestamps of a client on any node, also while it is closing (until its
   * `onClose` settled), or undefined when no such client is connected (or its node cannot be
   * reached, or answers with a reply that cannot be read).
   */
  getInfo(clientId: number): Promise<ClientInfo | undefined>;
  /**
   * Ids of clients on every node that completed the handshake and whose close has not begun:
   * those a send can reach (the broadcast targets). Nodes that do not answer in time are left
   * out (the adapter counts them); so are nodes whose reply cannot be read, and every other
   * node when the cluster adapter fails (this node's clients still come back).
   */
  getClients(): Promise<number[]>;
  /** {@link Endpoint.getInfo} for this node's clients only, synchronously (e.g. inside `onClose`). */
  getLocalInfo(clientId: number): ClientInfo | undefined;
  /** {@link Endpoint.getClients} for this node's clients only, synchronously. */
  getLocalClients(): number[];
}
