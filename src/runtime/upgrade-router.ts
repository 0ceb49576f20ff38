/**
 * Attach mode: the wsactor servers that share one borrowed HTTP(S) server take its `upgrade`
 * events through one listener, so an upgrade that none of them matches is always answered
 * (never left hanging because each thought another one would answer):
 * - no other `upgrade` listener on that server: 404 at once;
 * - other listeners too (a `ws` server, socket.io): they get `timeoutMs` (the first attached
 *   server's `handshakeTimeoutMs`) to write anything to the socket; an untouched socket then
 *   gets 404 (as engine.io does for its own unmatched upgrades).
 * The router lives as long as a server is attached; it is keyed by the borrowed server.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Clock } from './clock.js';
import { writeHttpRejection } from './handshake.js';
import { ignoreError } from './upgrade-gate.js';

/** One attached wsactor server. */
export interface UpgradeRoute {
  matches(req: IncomingMessage): boolean;
  handle(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** The router answered an upgrade no route took (every attached server hears of it). */
  refused(req: IncomingMessage, status: number, reason: string): void;
}

/** What a router needs from the server that created it. */
export interface RouterSettings {
  readonly clock: Clock;
  readonly timeoutMs: number;
}

/** The shape of the borrowed server the router needs (http and https servers have it). */
export interface UpgradeSource {
  on(event: 'upgrade', listener: (req: IncomingMessage, socket: Duplex, head: Buffer) => void): unknown;
  off(event: 'upgrade', listener: (req: IncomingMessage, socket: Duplex, head: Buffer) => void): unknown;
  listenerCount(event: 'upgrade'): number;
}

type CountedSocket = Duplex & { bytesWritten?: number };

class UpgradeRouter {
  readonly routes = new Set<UpgradeRoute>();

  constructor(
    private readonly source: UpgradeSource,
    private readonly settings: RouterSettings,
  ) {}

  readonly listener = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    for (const route of this.routes) {
      if (route.matches(req)) {
        route.handle(req, socket, head);
        return;
      }
    }
    socket.on('error', ignoreError);
    if (this.source.listenerCount('upgrade') <= 1) {
      this.#notFound(req, socket);
      return;
    }
    const { clock, timeoutMs } = this.settings;
    const timer = clock.setTimeout(() => {
      socket.off('close', cancel);
      const untouched = ((socket as CountedSocket).bytesWritten ?? 0) === 0;
      if (untouched && !socket.destroyed) this.#notFound(req, socket);
    }, timeoutMs);
    const cancel = (): void => clock.clearTimeout(timer);
    socket.once('close', cancel);
  };

  #notFound(req: IncomingMessage, socket: Duplex): void {
    writeHttpRejection(socket, 404, 'Not Found');
    for (const route of this.routes) route.refused(req, 404, 'Not Found');
  }
}

const routers = new WeakMap<UpgradeSource, UpgradeRouter>();

/**
 * Adds `route` to the router of `source` (made, and its listener added, on first use).
 * Returns the function that removes it again (and the listener with the last route).
 */
export function attachRoute(source: UpgradeSource, route: UpgradeRoute, settings: RouterSettings): () => void {
  let router = routers.get(source);
  if (router === undefined) {
    router = new UpgradeRouter(source, settings);
    routers.set(source, router);
    source.on('upgrade', router.listener);
  }
  const own = router;
  own.routes.add(route);
  return () => {
    own.routes.delete(route);
    if (own.routes.size > 0 || routers.get(source) !== own) return;
    routers.delete(source);
    source.off('upgrade', own.listener);
  };
}
