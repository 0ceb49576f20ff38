import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { Server as NetServer } from 'node:net';
import type { InspectionEvent, Observer } from 'xstate';
import { MAX_NODE_ID, type ClusterAdapter } from './cluster/adapter.js';
import { InvalidOptionError } from './errors.js';
import { systemClock, type Clock } from './runtime/clock.js';
import { checkTls, type TlsOptions } from './tls.js';
import { consoleLogger, type Logger } from './runtime/logger.js';
import {
  boolean,
  fail,
  integer,
  logger,
  methods,
  nestedScope,
  nullable,
  oneOf,
  optional,
  pathname,
  readOptions,
  satisfies,
  serverScope,
  showValue,
  string,
  strings,
  timerMs,
  type Check,
} from './validate.js';

export { assertTimerMs, MAX_TIMER_MS } from './validate.js';
export type { TlsData, TlsOptions } from './tls.js';

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
  /**
   * Listen with TLS (`wss://`): `{ cert, key }` (PEM) or `{ pfx }`, plus what else Node's
   * `https.createServer` takes (see {@link TlsOptions}); checked now with
   * `tls.createSecureContext`. A TLS handshake must finish within `handshakeTimeoutMs`; a
   * client that does not speak TLS (plain HTTP, `ws://`) has its socket closed.
   * `server.reloadTls(...)` swaps the certificate without a restart. Excludes `server`
   * (give that one its own TLS). Default: undefined (plain `ws://`).
   */
  tls?: TlsOptions | undefined;
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
   * Over `maxBufferedBytes` the send that would pass it resolves with `WSA_ERR_BACKPRESSURE`
   * (nothing of it is queued), and: `'close'` also closes that client with 1008 "Slow
   * consumer: outbound buffer limit exceeded"; `'fail'` keeps it open, so later sends may
   * succeed once it reads. Default: 'close'.
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
  'host' | 'server' | 'tls' | 'path' | 'perMessageDeflate'
> & {
  host: string | undefined;
  server: HttpServer | HttpsServer | undefined;
  tls: TlsOptions | undefined;
  path: string | undefined;
  perMessageDeflate: false | Required<DeflateOptions>;
};

/** The defaults, one place; documented in the README's options table. */
export const defaultOptions: Readonly<ResolvedOptions> = Object.freeze({
  host: undefined,
  port: 0,
  server: undefined,
  tls: undefined,
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

const DEFLATE_DEFAULTS: Readonly<Required<DeflateOptions>> = { threshold: 1024, concurrencyLimit: 10 };

/** `perMessageDeflate`: a boolean, or an object of deflate options over their defaults. */
const deflate: Check<false | Required<DeflateOptions>> = (value, key, scope) => {
  if (value === false) return false;
  if (value === true) return { ...DEFLATE_DEFAULTS };
  if (typeof value !== 'object' || value === null) return fail(scope, key, 'must be a boolean or an object');
  const spec = { threshold: integer({ min: 0, requirement: 'must be a non-negative integer' }), concurrencyLimit: integer() };
  return readOptions(nestedScope(scope, key), value, spec, { ...DEFLATE_DEFAULTS });
};

const isInspector = (value: unknown): boolean =>
  typeof value === 'function' || (typeof value === 'object' && value !== null && typeof (value as { next?: unknown }).next === 'function');

/** Every option of {@link ServerOptions} and its check, in the order of {@link defaultOptions}. */
const serverSpec = {
  host: optional(string({ nonEmpty: true, requirement: 'must be a non-empty string (an address or host name)', shown: showValue })),
  port: integer({ min: 0, max: 65535 }),
  server: optional(satisfies<HttpServer | HttpsServer>((value) => value instanceof NetServer, 'must be an http.Server or https.Server', showValue)),
  tls: optional(checkTls),
  path: optional(pathname()),
  maxPayload: integer(),
  maxFrameSize: integer(),
  maxFragments: integer(),
  validateUtf8: boolean(),
  textOnly: boolean(),
  heartbeatMs: nullable(timerMs()),
  maxUnansweredPings: integer(),
  closePeriodMs: timerMs(),
  handshakeTimeoutMs: timerMs(),
  stopTimeoutMs: nullable(timerMs()),
  maxBytesPerSecond: nullable(integer()),
  maxMessagesPerSecond: nullable(integer()),
  maxQueuedMessages: integer(),
  maxQueuedBytes: integer(),
  maxBufferedBytes: integer(),
  outboundOverflow: oneOf<OutboundOverflowPolicy>(['close', 'fail']),
  maxConnections: nullable(integer()),
  allowedOrigins: nullable(strings('must be an array of origin strings or null')),
  concurrency: integer(),
  perMessageDeflate: deflate,
  logger: logger(),
  clock: methods<Clock>(['now', 'setTimeout', 'clearTimeout'], 'must have now(), setTimeout() and clearTimeout()'),
  inspect: nullable(satisfies<InspectionObserver>(isInspector, 'must be a function or an observer with next()')),
  cluster: nullable(methods<ClusterAdapter>(['join', 'request', 'requestAll', 'leave'], 'must be a cluster adapter (join, request, requestAll, leave) or null')),
  nodeId: integer({ min: 0, max: MAX_NODE_ID }),
};

/** Applies defaults and validates; throws {@link InvalidOptionError} with an exact message. */
export function resolveOptions(options: ServerOptions = {}): ResolvedOptions {
  const resolved: ResolvedOptions = readOptions(serverScope, options, serverSpec, { ...defaultOptions });
  if (resolved.server !== undefined && (options.port !== undefined || options.host !== undefined)) {
    throw new InvalidOptionError('Option "server" excludes "host" and "port"');
  }
  if (resolved.server !== undefined && resolved.tls !== undefined) {
    throw new InvalidOptionError('Option "server" excludes "tls": give the https.Server you attach to its own certificate');
  }
  if (resolved.cluster !== null && options.nodeId !== undefined) {
    throw new InvalidOptionError('Option "cluster" excludes "nodeId": the adapter assigns it');
  }
  return resolved;
}
