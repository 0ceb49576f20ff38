import { connectionStateOf, type LifecycleState } from '../runtime/lifecycle-events.js';
/** Lifecycle state of a connection (the top level of its machine state). */
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
  /** Data frames (`ws` keeps no empty fragments: an empty message counts as one), ping, pong and close frames read. */
  readonly frames_read: number;
  /** Data frames, pings, pongs and close frames sent, also those `ws` sends itself (the answer to a peer's close, a protocol-error close). */
  readonly frames_sent: number;
  readonly messages_read: number;
  readonly messages_sent: number;
  /** Messages read but never given to `onData` (app close, hook failure, or after the close began). */
  readonly messages_dropped: number;
  /** With a client machine: its current state (dotted, e.g. `room.playing`), else null. */
  readonly machine_state: string | null;
  /** With a client machine: messages it refused (unexpected in their state) or could not decode. */
  readonly messages_rejected: number;
  readonly connected_at: number;
  readonly closed_at: number | null;
  readonly close_code: number | null;
  readonly close_reason: string;
  readonly last_read_at: number | null;
  readonly last_sent_at: number | null;
  readonly last_data_read_at: number | null;
  readonly last_data_sent_at: number | null;
}

/**
 * The counters of one connection, with the Aerys names, kept on the connection object itself
 * (the runtime's connection classes extend this): a separate record per client would cost an
 * object header and a pointer on every idle connection. `snapshot()` is what `getInfo` returns.
 */
export class ClientCounters {
  /**
   * The connection machine's state, as its last command reported it: the runtime's one
   * lifecycle field (set only by the connection's command handler); `state` derives from it.
   */
  protected lifecycle: LifecycleState | null = null;
  remote_address: string | null;
  frames_read = 0;
  frames_sent = 0;
  messages_read = 0;
  messages_sent = 0;
  messages_dropped = 0;
  readonly connected_at: number;
  closed_at: number | null = null;
  close_code: number | null = null;
  close_reason = '';
  last_read_at: number | null = null;
  last_sent_at: number | null = null;
  last_data_read_at: number | null = null;
  last_data_sent_at: number | null = null;

  constructor(
    readonly id: number,
    remoteAddress: string | null,
    now: number,
  ) {
    this.remote_address = remoteAddress;
    this.connected_at = now;
  }

  get state(): ConnectionState {
    return connectionStateOf(this.lifecycle);
  }

  /** True once the connection machine entered `closing` (or `closed`). */
  protected get closeBegan(): boolean {
    // Read on every send and message: three compares, no string scan.
    const state = this.lifecycle;
    return state === 'closing.draining' || state === 'closing.notifying' || state === 'closed';
  }

  /** The client machine's state (none here: see Connection). */
  protected machineState(): string | null {
    return null;
  }

  protected messagesRejected(): number {
    return 0;
  }

  /** Bytes read and written after the handshake (the socket counts them). */
  protected bytesCounted(): { read: number; sent: number } {
    return { read: 0, sent: 0 };
  }

  snapshot(): ClientInfo {
    const bytes = this.bytesCounted();
    return {
      client_id: this.id,
      state: this.state,
      remote_address: this.remote_address,
      bytes_read: bytes.read,
      bytes_sent: bytes.sent,
      frames_read: this.frames_read,
      frames_sent: this.frames_sent,
      messages_read: this.messages_read,
      messages_sent: this.messages_sent,
      messages_dropped: this.messages_dropped,
      machine_state: this.machineState(),
      messages_rejected: this.messagesRejected(),
      connected_at: this.connected_at,
      closed_at: this.closed_at,
      close_code: this.close_code,
      close_reason: this.close_reason,
      last_read_at: this.last_read_at,
      last_sent_at: this.last_sent_at,
      last_data_read_at: this.last_data_read_at,
      last_data_sent_at: this.last_data_sent_at,
    };
  }
}
