/**
 * wsactor: the Aerys Websocket interface on Node.js, one XState actor per connection.
 * Everything exported here is the stable API (test/unit/api-surface.test.ts pins the list);
 * the machine-to-runtime protocol lives in `wsactor/internals`. The same names are also split
 * by feature into `wsactor/cluster`, `wsactor/redis` and `wsactor/observe` (src/entries/).
 * Importing this module loads neither optional peer: `ioredis` is loaded by the first
 * `redisAdapter()`, `prom-client` by the first `createMetrics()` (src/optional/).
 */
import { closeCodeFor as internalCloseCodeFor, type CloseCause as InternalCloseCause } from './close-codes.js';
import type { ConnectionCommand as InternalCommand, ConnectionEvent as InternalEvent } from './machines/connection.js';

export { createServer, WsActorServer, type ServerState } from './runtime/server.js';
export type { Websocket, HandshakeRequest, HandshakeResponse } from './types.js';
export type { Endpoint, SendResult, BroadcastResult, BinaryData } from './endpoint/types.js';
export type { ClientInfo, ConnectionState } from './endpoint/client-info.js';
export { Message } from './runtime/message.js';
export {
  clientMachine,
  clientOf,
  decodeJson,
  type ClientMachineConfig,
  type ClientMachineOptions,
  type ClientMachineInput,
  type ClientCloseEvent,
  type ClientBinaryEvent,
  type ClientHandle,
  type UnexpectedPolicy,
} from './client-machine.js';
export { defaultOptions, type ServerOptions, type DeflateOptions, type OutboundOverflowPolicy, type TlsOptions, type TlsData } from './options.js';
export type { Clock } from './runtime/clock.js';
export type { Logger } from './runtime/logger.js';
export { CloseCode, isSendableCloseCode } from './close-codes.js';
/** @deprecated Internal (the close-cause mapping): import it from `wsactor/internals`. */
export const closeCodeFor = internalCloseCodeFor;
/** @deprecated Internal: import it from `wsactor/internals`. */
export type CloseCause = InternalCloseCause;
export {
  ErrorCodes,
  WsActorError,
  InvalidOptionError,
  UnknownClientError,
  ClientClosingError,
  SendFailedError,
  InvalidArgumentError,
  ServerStateError,
  HookError,
  ListenError,
  DependencyError,
  MissingDependencyError,
  BackpressureError,
  NodeUnreachableError,
  ClusterError,
  RemoteError,
  type ErrorCode,
} from './errors.js';
export { connectionMachine } from './machines/connection.js';
/** @deprecated Internal (the machine-to-runtime protocol): import it from `wsactor/internals`. */
export type ConnectionEvent = InternalEvent;
/** @deprecated Internal (the machine-to-runtime protocol): import it from `wsactor/internals`. */
export type ConnectionCommand = InternalCommand;
export { supervisorMachine, type SupervisorEvent } from './machines/supervisor.js';
export {
  jsonLinesWriter,
  LifecycleStream,
  type LifecycleEvent,
  type LifecycleListener,
  type LifecycleState,
  type ConnectionTransition,
  type ServerTransition,
  type ClientMachineTransition,
  type UpgradeRefusal,
  type HookTiming,
} from './runtime/lifecycle-events.js';
export type { InspectionObserver } from './options.js';
export { ServerStats } from './runtime/stats.js';
// The feature entries' names, exported here too (one list each, in src/entries).
export * from './entries/observe.js';
export * from './entries/cluster.js';
// Not `export *` from the redis entry: importing it loads ioredis; this keeps it lazy.
export { redisAdapter, type RedisAdapterOptions, type RedisAdapterStats, type RedisClusterAdapter } from './cluster/redis-adapter.js';
