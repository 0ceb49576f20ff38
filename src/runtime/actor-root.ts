/**
 * One XState system for all connection actors of a server, and every XState internal wsactor
 * uses (checked at startup by `checkXStateInternals`, which fails loudly if an upgrade of
 * `xstate` changed one):
 *
 * | internal | why |
 * |---|---|
 * | the `parent` option of `createActor` (not in the documented options) | each connection actor joins the root's system instead of building one of its own: a standalone actor's system (maps, a scheduler and some twenty closures) is about a third of what creating, running and dropping a connection actor costs |
 * | `Actor#_stop()` | `stop()` refuses actors that have a parent; a hibernating connection stops its actor this way |
 *
 * The root ignores every event (the done and error events its children report to it); the
 * runtime handles a connection actor's failure through its own error observer. `inspect` goes
 * to the root: every actor of a system reports to its root's inspector.
 */
import { createActor, fromTransition, type Actor, type AnyActorLogic, type AnyActorRef, type InputFrom, type SnapshotFrom } from 'xstate';
import { DependencyError } from '../errors.js';
import type { SettlesAtOnce } from '../machines/connection.js';
import type { InspectionObserver, ResolvedOptions } from '../options.js';
import type { Websocket } from '../types.js';

const ignoreAll = fromTransition((state: null) => state, null);

/** A started root for one server's connection actors (owned by its ServerServices). */
export function createActorRoot(inspect: InspectionObserver | null): AnyActorRef {
  return createActor(ignoreAll, inspect === null ? {} : { inspect }).start();
}

/** Creates (not starts) an actor of `logic` in the system of `root`. */
export function createChildActor<L extends AnyActorLogic>(logic: L, root: AnyActorRef, input: InputFrom<L>, snapshot?: SnapshotFrom<L>): Actor<L> {
  const options = { input, parent: root, ...(snapshot === undefined ? {} : { snapshot }) };
  return createActor(logic, options as Parameters<typeof createActor<L>>[1]);
}

/** Stops an actor that has a parent (XState refuses `stop()` on those). */
export function stopActor(actor: AnyActorRef): void {
  (actor as unknown as { _stop(): void })._stop();
}

/** The XState internals above that the installed `xstate` lacks (empty: all there). */
export function missingXStateInternals(): string[] {
  const missing: string[] = [];
  const root = createActor(ignoreAll).start();
  const child = createChildActor(ignoreAll, root, undefined as never);
  if (child.system !== root.system) missing.push('createActor option `parent` (the child got a system of its own)');
  if (typeof (child as unknown as { _stop?: unknown })._stop !== 'function') missing.push('Actor#_stop()');
  else root.stop(); // (stop() itself goes through _stop)
  return missing;
}

let checked = false;

/** Throws a DependencyError if the installed `xstate` lacks an internal wsactor relies on. Once per process. */
export function checkXStateInternals(): void {
  if (checked) return;
  const missing = missingXStateInternals();
  if (missing.length > 0) {
    throw new DependencyError(
      'xstate',
      `wsactor relies on internals of xstate 5 (checked at startup) that the installed xstate lacks: ${missing.join(', ')}. ` +
        'Install the xstate version wsactor was released with (see its package.json) or upgrade wsactor.',
    );
  }
  checked = true;
}

/** The eight combinations, shared by every connection. */
const AT_ONCE: readonly SettlesAtOnce[] = Array.from({ length: 8 }, (_, bits) =>
  Object.freeze({ accept: (bits & 1) !== 0, open: (bits & 2) !== 0, close: (bits & 4) !== 0 }),
);

/**
 * Which hooks a new connection skips because the app does not have them (none while an
 * inspector watches, so it sees every state as a snapshot of its own).
 */
export function settlesAtOnce(options: ResolvedOptions, app: Websocket<unknown>): SettlesAtOnce {
  if (options.inspect !== null) return AT_ONCE[0] as SettlesAtOnce;
  const bits = (app.onHandshake === undefined ? 1 : 0) | (app.onOpen === undefined ? 2 : 0) | (app.onClose === undefined ? 4 : 0);
  return AT_ONCE[bits] as SettlesAtOnce;
}
