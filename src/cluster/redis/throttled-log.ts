/**
 * A warning that can repeat many times a second (a connection error on every reconnect
 * attempt during an outage, a flood of malformed messages) is logged at most once per
 * interval; the next line says how many were left out, so nothing disappears silently.
 */
import type { Logger } from '../../runtime/logger.js';

/** Connection errors repeat on every retry during an outage; one line per source per this period. */
export const ERROR_LOG_INTERVAL_MS = 5000;

/** Returns a reporter that logs `message` (with the error) at most once per `intervalMs` of `now()`. */
export function rateLimited(logger: Logger, message: string, now: () => number = Date.now, intervalMs = ERROR_LOG_INTERVAL_MS): (error: unknown) => void {
  let lastAt = -Infinity;
  let skipped = 0;
  return (error) => {
    const at = now();
    if (at - lastAt < intervalMs) {
      skipped += 1;
      return;
    }
    logger.warn(skipped === 0 ? message : `${message} (${skipped} more since the last report)`, error);
    lastAt = at;
    skipped = 0;
  };
}
