/** The ConnectionHost interface (the server implements it; see server.ts). */
import type { WebSocket } from 'ws';
import type { Endpoint } from '../endpoint/types.js';
import type { Websocket } from '../types.js';
import type { Connection } from './connection.js';
import type { HandshakeDecision } from './handshake.js';
import type { LifecycleStream } from './lifecycle-events.js';
import type { SocketHost } from './outbound.js';

/** What a connection needs from its server (options, counters and shared services in SocketHost). */
export interface ConnectionHost extends SocketHost {
  readonly app: Websocket<unknown>;
  /** False once the server is stopping: late handshakes get 503. */
  isAccepting(): boolean;
  /** Writes the 101 through `ws`, then calls `onUpgraded` (never, if the socket died). */
  upgrade(conn: Connection, decision: HandshakeDecision | null, onUpgraded: (ws: WebSocket) => void): void;
  /** The connection is open: visible to the Endpoint from now on. */
  opened(conn: Connection): void;
  /** Where transitions are reported. */
  readonly lifecycle: LifecycleStream;
  /** The server's Endpoint (client machines talk through it). */
  readonly endpoint: Endpoint;
  /** The socket is gone (`onClose` may still be to run): it no longer counts for `maxConnections`. */
  socketGone(conn: Connection): void;
  /** The connection reached its final state. */
  released(conn: Connection): void;
}
