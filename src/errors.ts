/**
 * Every error wsactor creates, each with a stable `code`. Endpoint calls never throw these
 * for bad client ids: they come back inside a {@link SendResult}. Options and handshake
 * responses throw them, because those are programming errors found at once.
 */

/** Stable error codes; the README lists each one. */
export const ErrorCodes = {
  INVALID_OPTION: 'WSA_ERR_INVALID_OPTION',
  UNKNOWN_CLIENT: 'WSA_ERR_UNKNOWN_CLIENT',
  CLIENT_CLOSING: 'WSA_ERR_CLIENT_CLOSING',
  SEND_FAILED: 'WSA_ERR_SEND_FAILED',
  INVALID_DATA: 'WSA_ERR_INVALID_DATA',
  INVALID_CLOSE_CODE: 'WSA_ERR_INVALID_CLOSE_CODE',
  INVALID_CLOSE_REASON: 'WSA_ERR_INVALID_CLOSE_REASON',
  INVALID_CLIENT_IDS: 'WSA_ERR_INVALID_CLIENT_IDS',
  INVALID_STATUS: 'WSA_ERR_INVALID_STATUS',
  INVALID_HEADER: 'WSA_ERR_INVALID_HEADER',
  INVALID_SUBPROTOCOL: 'WSA_ERR_INVALID_SUBPROTOCOL',
  HANDSHAKE_SETTLED: 'WSA_ERR_HANDSHAKE_SETTLED',
  SERVER_STATE: 'WSA_ERR_SERVER_STATE',
  LISTEN_FAILED: 'WSA_ERR_LISTEN_FAILED',
  DEPENDENCY: 'WSA_ERR_DEPENDENCY',
  MISSING_DEPENDENCY: 'WSA_ERR_MISSING_DEPENDENCY',
  HOOK_FAILED: 'WSA_ERR_HOOK_FAILED',
  BACKPRESSURE: 'WSA_ERR_BACKPRESSURE',
  NODE_UNREACHABLE: 'WSA_ERR_NODE_UNREACHABLE',
  CLUSTER: 'WSA_ERR_CLUSTER',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Base class of every error wsactor creates. */
export class WsActorError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An option passed to `createServer` is unknown or has a bad value. */
export class InvalidOptionError extends WsActorError {
  constructor(message: string) {
    super(ErrorCodes.INVALID_OPTION, message);
  }
}

/** No client with this id is connected (never was, or already closed). */
export class UnknownClientError extends WsActorError {
  constructor(readonly clientId: number) {
    super(ErrorCodes.UNKNOWN_CLIENT, `Unknown client ${String(clientId)}`);
  }
}

/** The client's close has begun; nothing more can be sent to it. */
export class ClientClosingError extends WsActorError {
  constructor(readonly clientId: number) {
    super(ErrorCodes.CLIENT_CLOSING, `Client ${clientId} is closing`);
  }
}

/** The socket refused or failed the write. */
export class SendFailedError extends WsActorError {
  constructor(readonly clientId: number, cause: unknown) {
    super(ErrorCodes.SEND_FAILED, `Send to client ${clientId} failed: ${describe(cause)}`, { cause });
  }
}

/** The client's outbound buffer is over `maxBufferedBytes` (policy `'fail'`, or the client was closed for it). */
export class BackpressureError extends WsActorError {
  constructor(readonly clientId: number, readonly bufferedBytes: number) {
    super(ErrorCodes.BACKPRESSURE, `Client ${clientId} has ${bufferedBytes} bytes queued; over maxBufferedBytes`);
  }
}

/** A bad argument to an Endpoint or handshake call (data type, id list, close code, status, header). */
export class InvalidArgumentError extends WsActorError {}

/** `start()`/`stop()` called in a state that does not allow it. */
export class ServerStateError extends WsActorError {
  constructor(message: string) {
    super(ErrorCodes.SERVER_STATE, message);
  }
}

/** The server could not listen (port in use, no permission, bad address); `cause` is Node's error. */
export class ListenError extends WsActorError {
  constructor(
    /** Node's error code, e.g. `EADDRINUSE`, `EACCES`, `EADDRNOTAVAIL`. */
    readonly syscallCode: string | undefined,
    readonly host: string | undefined,
    readonly port: number,
    cause: unknown,
  ) {
    super(ErrorCodes.LISTEN_FAILED, `Cannot listen on ${host ?? 'all interfaces'} port ${port}: ${describe(cause)}`, { cause });
  }
}

/** An installed dependency (`ws`, `xstate`) lacks an internal wsactor relies on: see its message. */
export class DependencyError extends WsActorError {
  constructor(
    readonly dependency: string,
    message: string,
  ) {
    super(ErrorCodes.DEPENDENCY, message);
  }
}

/**
 * A feature needs an optional peer dependency that is not installed: `ioredis` for
 * `redisAdapter` (and `wsactor/redis`), `prom-client` for `createMetrics`. The message names the
 * package and the command that installs it (`install`).
 */
export class MissingDependencyError extends WsActorError {
  constructor(
    /** The missing package, e.g. `'ioredis'`. */
    readonly dependency: string,
    /** What needed it, e.g. `'redisAdapter'`. */
    readonly feature: string,
    /** The command that installs it, e.g. `'npm install ioredis@5'`. */
    readonly install: string,
  ) {
    super(ErrorCodes.MISSING_DEPENDENCY, `${feature} needs the "${dependency}" package, which is not installed (it is an optional peer dependency of wsactor): run "${install}"`);
  }
}

/** An app hook threw or rejected; reported to the logger with this wrapper. */
export class HookError extends WsActorError {
  constructor(readonly hook: string, readonly clientId: number | null, cause: unknown) {
    const who = clientId === null ? '' : ` for client ${clientId}`;
    super(ErrorCodes.HOOK_FAILED, `${hook} failed${who}: ${describe(cause)}`, { cause });
  }
}

/** Another node could not be reached or did not answer in time (cluster adapters). */
export class NodeUnreachableError extends WsActorError {
  constructor(readonly nodeId: number | null, detail: string, options?: { cause?: unknown }) {
    const who = nodeId === null ? 'Cluster' : `Node ${nodeId}`;
    super(ErrorCodes.NODE_UNREACHABLE, `${who} unreachable: ${detail}`, options);
  }
}

/** The cluster could not be joined or run (adapter misconfigured, node ids exhausted, worker failed). */
export class ClusterError extends WsActorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.CLUSTER, message, options);
  }
}

/** An error that came back from another node, with its original code and message. */
export class RemoteError extends WsActorError {}

/** The message of an Error, or the value as text: for error messages built from a cause. */
export function describe(value: unknown): string {
  return value instanceof Error ? value.message : String(value);
}
