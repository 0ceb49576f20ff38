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
import type { ResolvedOptions } from '../options.js';

const ignoreAll = fromTransition((state: null) => state, null);
const roots = new WeakMap<object, AnyActorRef>();

/** The root of one server's connection actors, found by its resolved options. */
export function actorRootOf(options: ResolvedOptions): AnyActorRef {
  let root = roots.get(options);
  if (root === undefined) {
    const { inspect } = options;
    root = createActor(ignoreAll, inspect === null ? {} : { inspect }).start();
    roots.set(options, root);
  }
  return root;
}

/** Stops a connection actor (XState refuses `stop()` on an actor that has a parent). */
export function stopActor(actor: AnyActorRef): void {
  (actor as unknown as { _stop(): void })._stop();
}
