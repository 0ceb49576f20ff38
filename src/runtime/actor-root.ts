/**
 * One XState system for all connection actors of a server. Each connection actor is created
 * with this root as its parent, so it joins the root's system instead of building one of its
 * own: a standalone actor's system (maps, a scheduler and some twenty closures) is about a
 * third of what creating, running and dropping a connection actor costs. The root ignores
 * every event (the done and error events its children report to it); the runtime handles a
 * connection actor's failure through its own error observer. `inspect` goes to the root:
 * every actor of a system reports to its root's inspector.
 */
import { createActor, fromTransition, type AnyActorRef } from 'xstate';
import type { SettlesAtOnce } from '../machines/connection.js';
import type { InspectionObserver, ResolvedOptions } from '../options.js';
import type { Websocket } from '../types.js';

const ignoreAll = fromTransition((state: null) => state, null);

/** A started root for one server's connection actors (owned by its ServerServices). */
export function createActorRoot(inspect: InspectionObserver | null): AnyActorRef {
  return createActor(ignoreAll, inspect === null ? {} : { inspect }).start();
}

/** Stops a connection actor (XState refuses `stop()` on an actor that has a parent). */
export function stopActor(actor: AnyActorRef): void {
  (actor as unknown as { _stop(): void })._stop();
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
