/**
 * `wsactor/testing`: test your own app against wsactor's lifecycle contract on real sockets.
 *
 * - {@link checkApp}: a property runner. It generates scenarios with fast-check (an optional
 *   peer dependency, needed only by `checkApp`), runs each against your app on a real server
 *   on 127.0.0.1, checks C1–C5 and S1–S3 (docs/lifecycle.md) in the form that holds for any
 *   app plus your own invariants, and on failure throws an {@link AppCheckError} with the seed,
 *   the shrunk scenario as numbered steps and the trace of hooks.
 * - {@link connect} / {@link TestClient}: a typed WebSocket client for example-based tests.
 */
export { checkApp, AppCheckError, type CheckAppOptions, type CheckAppReport, type Invariant } from './check-app.js';
export type { HookFailure, Violation } from './checks.js';
export { fromMachine, type FromMachineOptions, type MachineMessages, type MachineStep } from './machine.js';
export type { RunServerOptions } from './run.js';
export type { ClientMessage, ConnectPlan, HookDelays, Scenario, Step } from './scenario.js';
export type { AppRun, ConnectionRecord, EndpointCall, EndpointMethod, HookCall, HookName, SentMessage, TraceEvent } from './trace.js';
export {
  connect,
  TestClient,
  HandshakeRejectedError,
  type CloseInfo,
  type ConnectOptions,
  type ConnectTo,
  type NextMessageOptions,
  type ReceivedMessage,
} from './client.js';
