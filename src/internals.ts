/**
 * `wsactor/internals`: the protocol between the connection machine and the runtime, and the
 * close-cause mapping. Exported for tools and tests that drive the machine directly (as
 * test/unit does); not part of the stable API: these may change in any minor version.
 * The stable API is `wsactor` (see the README's "API stability").
 */
export {
  connectionMachine,
  initialContext,
  type ConnectionCommand,
  type ConnectionContext,
  type ConnectionEvent,
  type ConnectionInput,
  type ConnectionOutcome,
  type SettlesAtOnce,
} from './machines/connection.js';
export { closeCodeFor, closeCodeForWsError, type CloseCause, type CloseCauseKind } from './close-codes.js';
export { STATE_OF_COMMAND } from './runtime/lifecycle-events.js';
