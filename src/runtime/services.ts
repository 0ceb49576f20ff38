/**
 * What one server's connections share: the root of their actor system, the hibernation
 * queue, the heartbeat sweep, the broadcast outbox, and which hook steps settle at once.
 * The server makes them with itself and disposes of them once it stopped and its last
 * connection is released (timers cleared, the root actor stopped): nothing is kept in a
 * module-level registry.
 */
import type { AnyActorRef } from 'xstate';
import type { SettlesAtOnce } from '../machines/connection.js';
import type { ResolvedOptions } from '../options.js';
import type { Websocket } from '../types.js';
import { createActorRoot, settlesAtOnce, stopActor } from './actor-root.js';
import { HeartbeatSweep } from './heartbeat.js';
import { HibernationQueue } from './hibernation.js';
import { Outbox } from './outbox.js';

export class ServerServices {
  /** Parent of every connection actor: they join its system (see actor-root.ts). */
  readonly actorRoot: AnyActorRef;
  readonly hibernation: HibernationQueue;
  readonly heartbeat: HeartbeatSweep;
  readonly outbox = new Outbox();
  /** Hook steps a connection takes without an event, the same for every connection. */
  readonly atOnce: SettlesAtOnce;
  #disposed = false;

  constructor(options: ResolvedOptions, app: Websocket<unknown>) {
    const { clock, heartbeatMs, maxUnansweredPings, inspect } = options;
    this.actorRoot = createActorRoot(inspect);
    this.hibernation = new HibernationQueue(clock);
    this.heartbeat = new HeartbeatSweep(clock, heartbeatMs, maxUnansweredPings);
    this.atOnce = settlesAtOnce(options, app);
  }

  /** Clears the timers and stops the actor root. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.hibernation.dispose();
    this.heartbeat.dispose();
    stopActor(this.actorRoot);
  }
}
