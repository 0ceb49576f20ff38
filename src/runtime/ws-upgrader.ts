/**
 * Writes the 101 through `ws`, with what `onHandshake` decided (subprotocol, headers): one
 * `WebSocketServer` per wsactor server, in `noServer` mode, with the limits and the deflate
 * settings of the options.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ResolvedOptions } from '../options.js';
import { wsDeflateOptions } from './deflate.js';
import type { HandshakeDecision } from './handshake.js';
import { limitedWebSocketClass } from './limited-websocket.js';
import { ignoreError } from './upgrade-gate.js';

export class WsUpgrader {
  readonly #wss: WebSocketServer;
  readonly #decisions = new WeakMap<IncomingMessage, HandshakeDecision>();

  constructor(options: ResolvedOptions) {
    const { maxPayload, maxFragments, maxFrameSize, validateUtf8, perMessageDeflate, logger } = options;
    this.#wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      maxPayload,
      maxFragments,
      skipUTF8Validation: !validateUtf8,
      WebSocket: limitedWebSocketClass(maxFrameSize),
      // Every valid RFC 7692 offer is accepted, with bounded zlib memory: see deflate.ts.
      perMessageDeflate: wsDeflateOptions(perMessageDeflate),
      handleProtocols: (_offered, req) => this.#decisions.get(req)?.subprotocol ?? false,
    });
    this.#wss.on('headers', (headers, req) => {
      for (const [name, value] of this.#decisions.get(req)?.headers ?? []) {
        for (const v of typeof value === 'string' ? [value] : value) headers.push(`${name}: ${v}`);
      }
    });
    this.#wss.on('error', (error) => logger.error('ws server error', error));
  }

  /** Completes the upgrade; `onUpgraded` is never called if the socket died first. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, decision: HandshakeDecision | null, onUpgraded: (ws: WebSocket) => void): void {
    // None without onHandshake: no subprotocol, no headers (and no WeakMap entry to make).
    if (decision !== null) this.#decisions.set(req, decision);
    // RFC 6455 allows a token list ("foo, websocket"); ws wants exactly "websocket".
    req.headers.upgrade = 'websocket';
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      socket.off('error', ignoreError); // ws has its own from here on; one listener less per idle client
      onUpgraded(ws);
    });
  }
}
