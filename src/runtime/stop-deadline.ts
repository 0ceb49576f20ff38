/**
 * `stopTimeoutMs` for a stop (S2.5): one deadline from the moment the stop begins (after a
 * running start finished, S1), covering `onStop` and the clients; and a warning when a stop
 * waits longer than that for a start whose `onStart` does not settle.
 */
import type { Clock } from './clock.js';
import type { Logger } from './logger.js';

export interface StopDeadline {
  /** Resolves false when the deadline passed; null: no deadline (`stopTimeoutMs: null`). */
  readonly passed: Promise<false> | null;
  clear(): void;
}

export function stopDeadline(clock: Clock, ms: number | null): StopDeadline {
  if (ms === null) return { passed: null, clear: () => undefined };
  let timer: unknown = null;
  const passed = new Promise<false>((resolve) => (timer = clock.setTimeout(() => resolve(false), ms)));
  return { passed, clear: () => clock.clearTimeout(timer) };
}

/** The hint of every stop warning: a hook that awaits `server.stop()` waits for itself. */
export function awaitsStopHint(hook: string): string {
  return `If ${hook} awaits server.stop(), it waits for itself: call it without await (void server.stop()).`;
}

/**
 * A stop waits for a running start; an `onStart` that awaits `server.stop()` waits for itself
 * with no end. Says so once `ms` passed instead of hanging silently.
 */
export function warnIfStartHangs(started: Promise<unknown>, clock: Clock, ms: number | null, logger: Logger): void {
  if (ms === null) return;
  const timer = clock.setTimeout(() => {
    logger.warn(
      `stop(): start() has not finished within stopTimeoutMs (${ms} ms) and stop() waits for it (onStart has not settled). ` + awaitsStopHint('onStart'),
    );
  }, ms);
  const clear = (): void => clock.clearTimeout(timer);
  started.then(clear, clear);
}
