/**
 * The seam between one server (a node) and the others: an adapter carries Endpoint calls
 * for clients held by other nodes and brings back their answers. wsactor ships an
 * in-process adapter (several servers in one process) and a Redis pub/sub one (processes
 * and hosts); both keep the order of messages one node sends to another.
 */
import type { ClientInfo } from '../endpoint/client-info.js';
import type { ErrorCode } from '../errors.js';

/** An Endpoint call addressed to another node. `payload` carries the message bytes. */
export type NodeRequest =
  | { readonly op: 'send'; readonly clientId: number; readonly binary: boolean }
  | { readonly op: 'broadcast'; readonly binary: boolean; readonly except: readonly number[] }
  | { readonly op: 'multicast'; readonly binary: boolean; readonly clientIds: readonly number[] }
  | { readonly op: 'close'; readonly clientId: number; readonly code: number; readonly reason: string }
  | { readonly op: 'clients' }
  | { readonly op: 'info'; readonly clientId: number };

/** A failure as it crosses the wire: the stable code and the message of a WsActorError. */
export interface WireError {
  readonly code: ErrorCode;
  readonly message: string;
}

/** A node's answer to a {@link NodeRequest}. */
export type NodeReply =
  | { readonly op: 'result'; readonly error: WireError | null }
  | { readonly op: 'delivery'; readonly sent: readonly number[]; readonly failed: readonly { readonly clientId: number; readonly error: WireError }[] }
  | { readonly op: 'clients'; readonly clientIds: readonly number[] }
  | { readonly op: 'info'; readonly info: ClientInfo | null };

/**
 * Answers a request from another node. It must start every socket write before it returns
 * (before its first `await`), so that messages keep the order in which they arrived.
 */
export type RequestHandler = (request: NodeRequest, payload: Buffer | null) => NodeReply | Promise<NodeReply>;

/** What came back from {@link ClusterAdapter.requestAll}. */
export interface Gathered {
  readonly replies: readonly NodeReply[];
  /** Nodes known to exist that gave no reply in time (or could not be reached at all). */
  readonly unreached: number;
}

/** Counters an adapter keeps; gaps and failures are counted, never silent. */
export interface AdapterStats {
  /** Messages (requests and replies) handed to the transport. */
  published: number;
  /** Messages the transport refused (e.g. Redis down); the caller got an error for each. */
  publishFailed: number;
  /** Messages received from other nodes. */
  received: number;
  /** Messages from other nodes that never arrived, found by holes in their sequence numbers. */
  gaps: number;
  /** Requests that got no reply within the request timeout. */
  requestTimeouts: number;
  /** Times the transport connection came back after it was lost. */
  reconnects: number;
}

/** Carries Endpoint calls between nodes. One adapter instance serves one server. */
export interface ClusterAdapter {
  /**
   * Joins the cluster and returns this node's id: an integer from 1 to 2^21 - 1, unique in
   * the cluster and never reused. `handler` answers requests from other nodes from then on.
   */
  join(handler: RequestHandler): Promise<number>;
  /** Sends `request` to one node and resolves with its reply; rejects with a WsActorError when it cannot. */
  request(nodeId: number, request: NodeRequest, payload: Buffer | null): Promise<NodeReply>;
  /** Sends `request` to every other node; resolves with the replies that came within the timeout. Never rejects. */
  requestAll(request: NodeRequest, payload: Buffer | null): Promise<Gathered>;
  /** Leaves the cluster and closes the transport; requests after this fail. */
  leave(): Promise<void>;
  /** Live counters. */
  readonly stats: Readonly<AdapterStats>;
}

/** Client ids carry their node id in the bits above 2^32, so any node can route by id. */
export const NODE_ID_SHIFT = 2 ** 32;
/** Largest node id that keeps client ids safe integers. */
export const MAX_NODE_ID = 2 ** 21 - 1;

/**
 * The node that holds `clientId`: the high bits of the id, which are its server's node id
 * (given by the cluster adapter, or the `nodeId` option without one; default 0).
 */
export function nodeOf(clientId: number): number {
  return Math.floor(clientId / NODE_ID_SHIFT);
}
