/**
 * RFC 6455 close codes and the one function that maps every reason a connection closes to
 * the code reported in `onClose` and sent to the peer.
 */

export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  NO_STATUS: 1005,
  ABNORMAL: 1006,
  INVALID_PAYLOAD: 1007,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  MANDATORY_EXTENSION: 1010,
  INTERNAL_ERROR: 1011,
  TRY_AGAIN_LATER: 1013,
} as const;

/** Why a connection closed; each kind has one code (or carries the code it was given). */
export type CloseCause =
  | { kind: 'peer'; code: number; reason: string }
  | { kind: 'app'; code: number; reason: string }
  | { kind: 'dropped' }
  | { kind: 'server-stop' }
  | { kind: 'hook-failed'; hook: string }
  | { kind: 'protocol'; code: number; reason: string }
  /** A limit of ours: binary on a text-only server (1003), unanswered pings or a slow consumer (1008). */
  | { kind: 'limit'; code: number; reason: string };

export type CloseCauseKind = CloseCause['kind'];

/** The close code and reason for a cause. */
export function closeCodeFor(cause: CloseCause): { code: number; reason: string } {
  switch (cause.kind) {
    case 'peer':
    case 'app':
    case 'protocol':
    case 'limit':
      return { code: cause.code, reason: cause.reason };
    case 'dropped':
      return { code: CloseCode.ABNORMAL, reason: '' };
    case 'server-stop':
      return { code: CloseCode.GOING_AWAY, reason: 'Server shutting down' };
    case 'hook-failed':
      return { code: CloseCode.INTERNAL_ERROR, reason: 'Internal server error, aborting' };
  }
}

/**
 * Codes an application may send in a close frame (RFC 6455 7.4): 1000-1003, 1007-1014 and
 * 3000-4999. 1004-1006 and 1015 are reserved and never go on the wire.
 */
export function isSendableCloseCode(code: number): boolean {
  if (!Number.isInteger(code)) return false;
  if (code >= 3000 && code <= 4999) return true;
  return code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006;
}

/** A close frame's reason may hold this many bytes (RFC 6455 5.5: 125 of payload, 2 for the code). */
export const MAX_CLOSE_REASON_BYTES = 123;

/** `text` cut to what a close reason can hold, never inside a UTF-8 character. */
export function clipCloseReason(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  return bytes.length <= MAX_CLOSE_REASON_BYTES ? text : bytes.subarray(0, MAX_CLOSE_REASON_BYTES).toString('utf8').replace(/\uFFFD$/, '');
}

/** Error code the receiver emits (on the socket's 'error' event) for an oversized frame (ours). */
export const FRAME_TOO_LARGE = 'WSA_ERR_FRAME_TOO_LARGE';

/** Receiver error codes that mean "too big": each closes with 1009. */
export const TOO_BIG_ERROR_CODES: ReadonlySet<string> = new Set([
  'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH',
  'WS_ERR_TOO_MANY_BUFFERED_PARTS',
  'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH',
  FRAME_TOO_LARGE,
]);

/** Maps the `code` of an error from the `ws` receiver to the close code sent for it. */
export function closeCodeForWsError(wsCode: string | undefined): number {
  if (wsCode !== undefined && TOO_BIG_ERROR_CODES.has(wsCode)) return CloseCode.MESSAGE_TOO_BIG;
  return wsCode === 'WS_ERR_INVALID_UTF8' ? CloseCode.INVALID_PAYLOAD : CloseCode.PROTOCOL_ERROR;
}
