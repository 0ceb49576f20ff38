/**
 * What an upgrade request (or a plain HTTP request to the WebSocket path) passes before it
 * becomes a connection, in order: a parsable target (400), the path (404), the RFC 6455
 * checks, a running server (503), the allowed origins (403), `maxConnections` (503). Refused
 * sockets get a complete HTTP answer and are tracked until closed, so `stop()` can end them;
 * each refused upgrade is reported on the lifecycle stream (kind `refused`) while it has listeners.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ResolvedOptions } from '../options.js';
import { checkUpgradeRequest } from './handshake-checks.js';
import { writeHttpRejection } from './handshake.js';
import type { LifecycleStream } from './lifecycle-events.js';
import { isServableTarget, pathnameOf } from './request-target.js';

const BAD_TARGET = 'Bad Request: invalid request target';

/** Shared, so an upgrading socket costs no closure. */
export function ignoreError(): void {}

/** What the gate needs from its server. */
export interface GateHost {
  readonly options: ResolvedOptions;
  /** Where refused upgrades are reported (kind `refused`), when it has listeners. */
  readonly lifecycle: LifecycleStream;
  isAccepting(): boolean;
  /** Connections that hold a socket now (what `maxConnections` bounds). */
  connectionCount(): number;
  /** Every check passed: make the connection. */
  admit(req: IncomingMessage, socket: Duplex, head: Buffer, subprotocols: string[]): void;
}

export class UpgradeGate {
  readonly #rawSockets = new Set<Duplex>();
  readonly #origins: ReadonlySet<string> | null;

  constructor(private readonly host: GateHost) {
    const { allowedOrigins } = host.options;
    this.#origins = allowedOrigins === null ? null : new Set(allowedOrigins.map((o) => o.toLowerCase()));
  }

  /** Whether the request is for this server's `path` (any path when none is set). */
  matchesPath(req: IncomingMessage): boolean {
    const { path } = this.host.options;
    return path === undefined || pathnameOf(req.url) === path;
  }

  /** A plain HTTP request in standalone mode: 400/404, or why it is no upgrade (426 when it is fine). */
  readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    res.on('error', ignoreError);
    const plain = { 'Content-Type': 'text/plain; charset=utf-8' };
    if (!isServableTarget(req.url)) {
      res.writeHead(400, plain).end(BAD_TARGET);
      return;
    }
    if (!this.matchesPath(req)) {
      res.writeHead(404, plain).end('Not Found');
      return;
    }
    const check = checkUpgradeRequest(req);
    const answer = check.ok ? { status: 426, headers: { Upgrade: 'websocket' }, body: 'Upgrade Required' } : check;
    res.writeHead(answer.status, { ...plain, ...answer.headers }).end(answer.body);
  };

  readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', ignoreError); // a reset during the handshake must not crash us
    if (!isServableTarget(req.url)) {
      this.#refuse(req, socket, 400, BAD_TARGET);
      return;
    }
    // Standalone only: in attach mode the upgrade router sends only matching requests here.
    if (!this.matchesPath(req)) {
      this.#refuse(req, socket, 404, 'Not Found');
      return;
    }
    const check = checkUpgradeRequest(req);
    if (!check.ok) {
      this.#refuse(req, socket, check.status, check.body, Object.entries(check.headers));
      return;
    }
    if (!this.host.isAccepting()) {
      this.#refuse(req, socket, 503, 'Service Unavailable: server is not running');
      return;
    }
    if (this.#origins !== null && !this.#origins.has((req.headers.origin ?? '').toLowerCase())) {
      this.#refuse(req, socket, 403, 'Origin forbidden');
      return;
    }
    const { maxConnections } = this.host.options;
    if (maxConnections !== null && this.host.connectionCount() >= maxConnections) {
      this.#refuse(req, socket, 503, 'Service Unavailable: connection limit reached');
      return;
    }
    this.host.admit(req, socket, head, check.subprotocols);
  };

  /** Reports an upgrade to this server's HTTP server that the shared router answered (attach mode). */
  reportRefused(req: IncomingMessage, status: number, reason: string): void {
    const { lifecycle, options } = this.host;
    if (lifecycle.active) lifecycle.emit({ kind: 'refused', status, reason, path: pathnameOf(req.url), at: options.clock.now() });
  }

  /** Ends the refused sockets still open (on stop). */
  destroyRefused(): void {
    for (const socket of this.#rawSockets) socket.destroy();
  }

  #refuse(req: IncomingMessage, socket: Duplex, status: number, body: string, headers: [string, string][] = []): void {
    this.#rawSockets.add(socket);
    socket.once('close', () => this.#rawSockets.delete(socket));
    writeHttpRejection(socket, status, body, headers);
    const { lifecycle, options } = this.host;
    if (lifecycle.active) lifecycle.emit({ kind: 'refused', status, reason: body, path: pathnameOf(req.url), at: options.clock.now() });
  }
}
