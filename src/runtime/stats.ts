/**
 * Server-wide counters, kept as plain numbers on the hot path (a few increments per message)
 * so that metrics cost nothing until something reads them.
 */
export class ServerStats {
  messagesIn = 0;
  bytesIn = 0;
  messagesOut = 0;
  bytesOut = 0;
  messagesDropped = 0;
  /** Times reading paused because `maxQueuedMessages` waited for onData. */
  backlogPauses = 0;
  /** Times reading paused for a rate limit. */
  ratePauses = 0;
  /** Clients closed because their outbound buffer passed `maxBufferedBytes`. */
  slowConsumerCloses = 0;
  /** Clients still live when `stop()` reached `stopTimeoutMs`: cut off (queue dropped, socket destroyed). */
  stopCut = 0;
  /** Set (by metrics) to time every onData call; null keeps timing off the hot path. */
  onDataTimed: ((durationMs: number, ok: boolean) => void) | null = null;
}
