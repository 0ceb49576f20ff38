import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { Server as NetServer } from 'node:net';
import type { InspectionEvent, Observer } from 'xstate';
import { MAX_NODE_ID, type ClusterAdapter } from './cluster/adapter.js';
import { InvalidOptionError } from './errors.js';
import { systemClock, type Clock } from './runtime/clock.js';
import { consoleLogger, type Logger } from './runtime/logger.js';

/** What to do when a client's outbound buffer passes `maxBufferedBytes`. */
export type OutboundOverflowPolicy = 'close' | 'fail';

/**
 * permessage-deflate (RFC 7692) settings. Every valid offer a client makes is accepted; the
 * server deflates with a window of at most 2^13 and zlib memLevel 7 whatever the client
 * allows, so zlib memory stays bounded per connection (see src/runtime/deflate.ts).
 */
export interface DeflateOptions {
  /**
   * Messages smaller than this many bytes are sent uncompressed, larger ones compressed, on
   * every connection that negotiated permessage-deflate, for sends, broadcasts and multicasts
   * alike; 0 compresses every message. Default: 1024.
   */
  threshold?: number;
  /** zlib operations running at once in the process (bounds memory and CPU). Default: 10. */
  concurrencyLimit?: number;
}

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
  /** Largest single frame accepted, in bytes; larger ones close with 1009. Default: 1 MiB. */
  maxFrameSize?: number;
  /** Most frames one message may have; more close with 1009. Default: 1024. */
  maxFragments?: number;
  /** Validate UTF-8 of text messages and close reasons; invalid ones close with 1007. Default: true. */
  validateUtf8?: boolean;
  /** Accept text messages only; a binary message closes the client with 1003. Default: false. */
  textOnly?: boolean;
  /**
   * Ping a client after this many ms without reading anything from it; null turns heartbeats
   * off (a dead peer is then found only by TCP). Default: 10000.
   */
  heartbeatMs?: number | null;
  /** Unanswered pings tolerated; one more closes with 1008 "unanswered ping limit". Default: 3. */
  maxUnansweredPings?: number;
  /** Milliseconds to wait for the peer's close frame before the socket is destroyed. Default: 3000. */
  closePeriodMs?: number;
  /**
   * Milliseconds a handshake may take: headers not complete (standalone mode) or `onHandshake`
   * not settled in time get the connection dropped / 503, and no `onOpen`. Default: 10000.
   */
  handshakeTimeoutMs?: number;
  /**
   * Milliseconds `stop()` waits for clients to close and their hooks to settle. Then the
   * remaining clients are cut (undelivered messages dropped and counted, sockets destroyed),
   * counted in `stats.stopCut`, logged, and `stop()` resolves; their `onClose` still runs
   * once their running hook settles. null: no deadline. Default: 30000.
   */
  stopTimeoutMs?: number | null;
  /** Bytes per second given to `onData` for one client; over it, delivery and reading pause. null: no limit. Default: null. */
  maxBytesPerSecond?: number | null;
  /** Messages per second given to `onData` for one client; over it, delivery and reading pause. null: no limit. Default: null. */
  maxMessagesPerSecond?: number | null;
  /**
   * Undelivered messages queued per client before reading from its socket (and parsing what
   * was already read) pauses: TCP backpressure. Default: 16.
   */
  maxQueuedMessages?: number;
  /**
   * Undelivered bytes queued per client before reading pauses the same way (the message that
   * passes it is still queued, so at most this plus one `maxPayload`). Default: 1 MiB.
   */
  maxQueuedBytes?: number;
  /** Bytes queued for sending to one client before `outboundOverflow` applies. Default: 4 MiB. */
  maxBufferedBytes?: number;
  /**
   * Over `maxBufferedBytes`: `'close'` closes that client with 1008, `'fail'` makes the send
   * resolve with `WSA_ERR_BACKPRESSURE`. Default: 'close'.
   */
  outboundOverflow?: OutboundOverflowPolicy;
  /**
   * Connections that hold a socket at once (handshaking, open, or closing until the socket is
   * gone; a client whose `onClose` still runs after it left does not count); over it: 503.
   * null: no limit. Default: null.
   */
  maxConnections?: number | null;
  /**
   * Origins allowed to connect (exact, case-insensitive, e.g. `https://example.com`); others,
   * and requests without Origin, get 403 "Origin forbidden". null: any. Default: null.
   */
  allowedOrigins?: readonly string[] | null;
  /** `onData` calls allowed to run at once per client; 1 means they never overlap. Default: 1. */
  concurrency?: number;
  /** Negotiate permessage-deflate (RFC 7692) when a client offers it. Default: false. */
  perMessageDeflate?: boolean | DeflateOptions;
  /** Receives hook failures and socket errors. Default: console. */
  logger?: Logger;
  /** Time source for timers. Default: the system clock. */
  clock?: Clock;
  /**
   * Receives the XState inspection events of the supervisor and of every connection actor
   * (e.g. `createWebSocketInspector().inspect` from `@statelyai/inspect`). Default: null (off).
   */
  inspect?: InspectionObserver | null;
  /**
   * Joins a cluster through this adapter (e.g. `redisAdapter(...)`), so Endpoint calls reach
   * clients of every node; the node id then comes from the adapter. Default: null (this
   * server alone).
   */
  cluster?: ClusterAdapter | null;
  /**
   * This server's node id when there is no `cluster` adapter: the high bits of its client ids
   * (id = nodeId * 2^32 + n), so servers with distinct node ids never share a client id.
   * Integer from 0 to 2^21 - 1. Default: 0.
   */
  nodeId?: number;
}

/** What the `inspect` option accepts: an observer or a function of inspection events. */
export type InspectionObserver = Observer<InspectionEvent> | ((event: InspectionEvent) => void);

/** Options after defaults were applied and validated. */
export type ResolvedOptions = Omit<
  { [K in keyof ServerOptions]-?: Exclude<ServerOptions[K], undefined> },
  'host' | 'server' | 'path' | 'perMessageDeflate'
> & {
  host: string | undefined;
  server: HttpServer | HttpsServer | undefined;
  path: string | undefined;
  perMessageDeflate: false | Required<DeflateOptions>;
};

/** The defaults, one place; documented in the README's options table. */
export const defaultOptions: Readonly<ResolvedOptions> = Object.freeze({
  host: undefined,
  port: 0,
  server: undefined,
  path: undefined,
  maxPayload: 1024 * 1024,
  maxFrameSize: 1024 * 1024,
  maxFragments: 1024,
  validateUtf8: true,
  textOnly: false,
  heartbeatMs: 10_000,
  maxUnansweredPings: 3,
  closePeriodMs: 3000,
  handshakeTimeoutMs: 10_000,
  stopTimeoutMs: 30_000,
  maxBytesPerSecond: null,
  maxMessagesPerSecond: null,
  maxQueuedMessages: 16,
  maxQueuedBytes: 1024 * 1024,
  maxBufferedBytes: 4 * 1024 * 1024,
  outboundOverflow: 'close',
  maxConnections: null,
  allowedOrigins: null,
  concurrency: 1,
  perMessageDeflate: false,
  logger: consoleLogger,
  clock: systemClock,
  inspect: null,
  cluster: null,
  nodeId: 0,
} satisfies ResolvedOptions);

/** Node's timers take at most 2^31 - 1 ms; a longer delay silently becomes 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

const positiveIntegers = [
  'maxPayload',
  'maxFrameSize',
  'maxFragments',
  'maxUnansweredPings',
  'maxQueuedMessages',
  'maxQueuedBytes',
  'maxBufferedBytes',
  'concurrency',
] as const;
const optionalPositiveIntegers = ['maxBytesPerSecond', 'maxMessagesPerSecond', 'maxConnections'] as const;
const timers = ['closePeriodMs', 'handshakeTimeoutMs'] as const;
/** Timers that null turns off. */
const optionalTimers = ['heartbeatMs', 'stopTimeoutMs'] as const;
const booleans = ['validateUtf8', 'textOnly'] as const;

function assertPositiveInteger(name: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new InvalidOptionError(`Option "${name}" must be a positive integer, got ${String(value)}`);
  }
}

/** A timer delay: a positive integer of milliseconds Node can wait for. */
export function assertTimerMs(name: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0 || value > MAX_TIMER_MS) {
    throw new InvalidOptionError(`Option "${name}" must be an integer of milliseconds from 1 to ${MAX_TIMER_MS} (2^31 - 1), got ${String(value)}`);
  }
}

function resolveDeflate(value: unknown): false | Required<DeflateOptions> {
  const defaults = { threshold: 1024, concurrencyLimit: 10 };
  if (value === false) return false;
  if (value === true) return defaults;
  if (typeof value !== 'object' || value === null) {
    throw new InvalidOptionError('Option "perMessageDeflate" must be a boolean or an object');
  }
  for (const key of Object.keys(value)) {
    if (!Object.hasOwn(defaults, key)) throw new InvalidOptionError(`Unknown option "perMessageDeflate.${key}"`);
  }
  const resolved = { ...defaults, ...(value as DeflateOptions) };
  const { threshold } = resolved;
  if (typeof threshold !== 'number' || !Number.isSafeInteger(threshold) || threshold < 0) {
    throw new InvalidOptionError(`Option "perMessageDeflate.threshold" must be a non-negative integer, got ${String(threshold)}`);
  }
  assertPositiveInteger('perMessageDeflate.concurrencyLimit', resolved.concurrencyLimit);
  return resolved;
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'object' && value !== null) return value.constructor?.name ?? 'object';
  return String(value);
}

/** `path` is compared with the request's pathname: it must be one, as `URL` normalizes it. */
function assertPathname(path: unknown): void {
  if (typeof path !== 'string' || !path.startsWith('/')) {
    throw new InvalidOptionError(`Option "path" must start with "/", got ${String(path)}`);
  }
  if (path.includes('?') || path.includes('#')) {
    throw new InvalidOptionError(`Option "path" is a pathname and can never contain "?" or "#" (the query is not part of it), got ${show(path)}`);
  }
  const normalized = new URL(path, 'http://localhost').pathname;
  if (normalized !== path) {
    throw new InvalidOptionError(`Option "path" ${show(path)} can never match: request pathnames arrive normalized, as ${show(normalized)}`);
  }
}

/** Applies defaults and validates; throws {@link InvalidOptionError} with an exact message. */
export function resolveOptions(options: ServerOptions = {}): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('Options must be an object');
  }
  for (const key of Object.keys(options)) {
    if (!Object.hasOwn(defaultOptions, key)) throw new InvalidOptionError(`Unknown option "${key}"`);
  }
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const resolved = { ...defaultOptions, ...defined } as ResolvedOptions;

  for (const key of positiveIntegers) assertPositiveInteger(key, resolved[key]);
  for (const key of optionalPositiveIntegers) if (resolved[key] !== null) assertPositiveInteger(key, resolved[key]);
  for (const key of timers) assertTimerMs(key, resolved[key]);
  for (const key of optionalTimers) if (resolved[key] !== null) assertTimerMs(key, resolved[key]);
  for (const key of booleans) {
    if (typeof resolved[key] !== 'boolean') throw new InvalidOptionError(`Option "${key}" must be a boolean`);
  }
  if (!Number.isInteger(resolved.port) || resolved.port < 0 || resolved.port > 65535) {
    throw new InvalidOptionError(`Option "port" must be an integer from 0 to 65535, got ${String(resolved.port)}`);
  }
  if (resolved.host !== undefined && (typeof resolved.host !== 'string' || resolved.host === '')) {
    throw new InvalidOptionError(`Option "host" must be a non-empty string (an address or host name), got ${show(resolved.host)}`);
  }
  if (resolved.server !== undefined && !(resolved.server instanceof NetServer)) {
    throw new InvalidOptionError(`Option "server" must be an http.Server or https.Server, got ${show(resolved.server)}`);
  }
  if (resolved.server !== undefined && (options.port !== undefined || options.host !== undefined)) {
    throw new InvalidOptionError('Option "server" excludes "host" and "port"');
  }
  if (resolved.path !== undefined) assertPathname(resolved.path);
  if (resolved.outboundOverflow !== 'close' && resolved.outboundOverflow !== 'fail') {
    throw new InvalidOptionError('Option "outboundOverflow" must be "close" or "fail"');
  }
  const origins: unknown = resolved.allowedOrigins;
  if (origins !== null && (!Array.isArray(origins) || !origins.every((o) => typeof o === 'string'))) {
    throw new InvalidOptionError('Option "allowedOrigins" must be an array of origin strings or null');
  }
  resolved.perMessageDeflate = resolveDeflate(resolved.perMessageDeflate);
  const { logger, clock } = resolved;
  if (typeof logger?.error !== 'function' || typeof logger.warn !== 'function') {
    throw new InvalidOptionError('Option "logger" must have error() and warn() methods');
  }
  if (typeof clock?.now !== 'function' || typeof clock.setTimeout !== 'function' || typeof clock.clearTimeout !== 'function') {
    throw new InvalidOptionError('Option "clock" must have now(), setTimeout() and clearTimeout()');
  }
  const inspect: unknown = resolved.inspect;
  if (inspect !== null && typeof inspect !== 'function' && (typeof inspect !== 'object' || typeof (inspect as { next?: unknown }).next !== 'function')) {
    throw new InvalidOptionError('Option "inspect" must be a function or an observer with next()');
  }
  const cluster: unknown = resolved.cluster;
  if (cluster !== null) {
    const methods = ['join', 'request', 'requestAll', 'leave'] as const;
    if (typeof cluster !== 'object' || !methods.every((m) => typeof (cluster as Record<string, unknown>)[m] === 'function')) {
      throw new InvalidOptionError('Option "cluster" must be a cluster adapter (join, request, requestAll, leave) or null');
    }
    if (options.nodeId !== undefined) throw new InvalidOptionError('Option "cluster" excludes "nodeId": the adapter assigns it');
  }
  if (!Number.isInteger(resolved.nodeId) || resolved.nodeId < 0 || resolved.nodeId > MAX_NODE_ID) {
    throw new InvalidOptionError(`Option "nodeId" must be an integer from 0 to ${MAX_NODE_ID}, got ${String(resolved.nodeId)}`);
  }
  return resolved;
}
