/** Lifecycle state of a connection, as its actor reports it. */
export type ConnectionState = 'handshaking' | 'open' | 'closing' | 'closed';

/**
 * What `Endpoint.getInfo` reports, with the Aerys field names. Times are milliseconds since
 * the epoch from the server's clock; `null` means "never happened".
 */
export interface ClientInfo {
  readonly client_id: number;
  readonly state: ConnectionState;
  readonly remote_address: string | null;
  /** Bytes read from the socket after the handshake. */
  readonly bytes_read: number;
  /** Bytes written to the socket after the handshake. */
  readonly bytes_sent: number;
  /** Data fragments (text messages count as one frame) plus ping and pong frames read. */
  readonly frames_read: number;
  /** Data frames, pongs and close frames the server sent. */
  readonly frames_sent: number;
  readonly messages_read: number;
  readonly messages_sent: number;
  /** Messages read but never given to `onData` (app close, hook failure, or after the close began). */
  readonly messages_dropped: number;
  readonly connected_at: number;
  readonly closed_at: number | null;
  readonly close_code: number | null;
  readonly close_reason: string;
  readonly last_read_at: number | null;
  readonly last_sent_at: number | null;
  readonly last_data_read_at: number | null;
  readonly last_data_sent_at: number | null;
}

export type MutableClientInfo = { -readonly [K in keyof ClientInfo]: ClientInfo[K] };

export function newClientInfo(clientId: number, remoteAddress: string | null, now: number): MutableClientInfo {
  return {
    client_id: clientId,
    state: 'handshaking',
    remote_address: remoteAddress,
    bytes_read: 0,
    bytes_sent: 0,
    frames_read: 0,
    frames_sent: 0,
    messages_read: 0,
    messages_sent: 0,
    messages_dropped: 0,
    connected_at: now,
    closed_at: null,
    close_code: null,
    close_reason: '',
    last_read_at: null,
    last_sent_at: null,
    last_data_read_at: null,
    last_data_sent_at: null,
  };
}
