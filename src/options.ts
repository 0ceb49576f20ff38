import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { InvalidOptionError } from './errors.js';
import { systemClock, type Clock } from './runtime/clock.js';
import { consoleLogger, type Logger } from './runtime/logger.js';

/** Options of {@link createServer}. Every field is optional; defaults are in {@link defaultOptions}. */
export interface ServerOptions {
  /** Interface to listen on in standalone mode. Default: undefined (all interfaces, as `net`). */
  host?: string | undefined;
  /** Port to listen on in standalone mode; 0 picks a free port. Default: 0. */
  port?: number;
  /** Attach to this existing HTTP(S) server instead of listening; excludes `host`/`port`. */
  server?: HttpServer | HttpsServer | undefined;
  /** Only upgrade requests to this exact pathname are handled. Default: undefined (any path). */
  path?: string | undefined;
  /** Largest message accepted, in bytes; larger ones close the client with 1009. Default: 1 MiB. */
  maxPayload?: number;
  /**
   * Undelivered messages queued per client before reading from its socket pauses (TCP
   * backpressure). Default: 16.
   */
  maxQueuedMessages?: number;
  /** `onData` calls allowed to run at once per client; 1 means they never overlap. Default: 1. */
  concurrency?: number;
  /** Milliseconds to wait for the peer's close frame before the socket is destroyed. Default: 3000. */
  closePeriodMs?: number;
  /** Negotiate permessage-deflate (RFC 7692) when a client offers it. Default: false. */
  perMessageDeflate?: boolean;
  /** Receives hook failures and socket errors. Default: console. */
  logger?: Logger;
  /** Time source for timers. Default: the system clock. */
  clock?: Clock;
}

/** Options after defaults were applied and validated. */
export interface ResolvedOptions {
  host: string | undefined;
  port: number;
  server: HttpServer | HttpsServer | undefined;
  path: string | undefined;
  maxPayload: number;
  maxQueuedMessages: number;
  concurrency: number;
  closePeriodMs: number;
  perMessageDeflate: boolean;
  logger: Logger;
  clock: Clock;
}

/** The defaults, one place; documented in the README's options table. */
export const defaultOptions: ResolvedOptions = {
  host: undefined,
  port: 0,
  server: undefined,
  path: undefined,
  maxPayload: 1024 * 1024,
  maxQueuedMessages: 16,
  concurrency: 1,
  closePeriodMs: 3000,
  perMessageDeflate: false,
  logger: consoleLogger,
  clock: systemClock,
};

const positiveIntegers = ['maxPayload', 'maxQueuedMessages', 'concurrency', 'closePeriodMs'] as const;

/** Applies defaults and validates; throws {@link InvalidOptionError} with an exact message. */
export function resolveOptions(options: ServerOptions = {}): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('Options must be an object');
  }
  for (const key of Object.keys(options)) {
    if (!(key in defaultOptions)) throw new InvalidOptionError(`Unknown option "${key}"`);
  }
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const resolved: ResolvedOptions = { ...defaultOptions, ...defined };

  for (const key of positiveIntegers) {
    const value = resolved[key];
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new InvalidOptionError(`Option "${key}" must be a positive integer, got ${String(value)}`);
    }
  }
  if (!Number.isInteger(resolved.port) || resolved.port < 0 || resolved.port > 65535) {
    throw new InvalidOptionError(`Option "port" must be an integer from 0 to 65535, got ${String(resolved.port)}`);
  }
  if (resolved.server !== undefined && (options.port !== undefined || options.host !== undefined)) {
    throw new InvalidOptionError('Option "server" excludes "host" and "port"');
  }
  if (resolved.path !== undefined && (typeof resolved.path !== 'string' || !resolved.path.startsWith('/'))) {
    throw new InvalidOptionError(`Option "path" must start with "/", got ${String(resolved.path)}`);
  }
  if (typeof resolved.perMessageDeflate !== 'boolean') {
    throw new InvalidOptionError('Option "perMessageDeflate" must be a boolean');
  }
  if (typeof resolved.logger?.error !== 'function' || typeof resolved.logger.warn !== 'function') {
    throw new InvalidOptionError('Option "logger" must have error() and warn() methods');
  }
  if (typeof resolved.clock?.now !== 'function' || typeof resolved.clock.setTimeout !== 'function') {
    throw new InvalidOptionError('Option "clock" must have now(), setTimeout() and clearTimeout()');
  }
  return resolved;
}
