/**
 * permessage-deflate (RFC 7692) on top of `ws`: what the server accepts, how much zlib memory
 * a connection may take, and which messages are compressed.
 *
 * Negotiation. `ws` accepts the first offer that its `serverMaxWindowBits`,
 * `clientMaxWindowBits`, `serverNoContextTakeover` and `clientNoContextTakeover` options can
 * match and answers 400 when none can; with those options left unset it accepts the first
 * offer as it is. So none is set: every valid offer gets a 101 with a valid answer, the offer's
 * own parameters echoed (RFC 7692 7.1):
 *  - `server_no_context_takeover`, `client_no_context_takeover`: echoed when offered, and
 *    honoured (the deflater or inflater is reset after each message);
 *  - `server_max_window_bits=N` (8-15): answered with N, and the server deflates with a window
 *    of at most 2^N (2^9 for N = 8: zlib has no raw 2^8 window, Node takes 9 instead, and a
 *    2^9 zlib window never emits a distance above 250, so a 2^8 inflater decodes it);
 *  - `client_max_window_bits`: without a value it is dropped from the answer (allowed), so the
 *    client may deflate with up to 2^15; with =N it is echoed and the client uses at most 2^N;
 *    absent, it stays absent (the client's window is then up to 2^15).
 * An invalid offer (a value outside 8-15, a repeated or unknown parameter, a value where none
 * belongs) still makes `ws` answer 400 for the whole request, even next to a valid offer: RFC
 * 7692 section 5 would have the server decline just that offer, but `ws` rejects the header
 * before the runtime sees the result, and no client sends such offers. Declining them would
 * take rewriting the header before `ws` parses it.
 *
 * Memory bound (per connection; zlib's own figures, zconf.h). Deflate: 2^(w+2) + 2^(memLevel+9)
 * bytes for a window of 2^w. The window the client announced only caps w: whatever it
 * allows, the server deflates with at most 2^13 (`MAX_SERVER_WINDOW_BITS`), lowering the
 * window `ws` would use right after the upgrade, before anything was compressed. Sending with
 * a smaller window than announced is always valid: the client's inflater, sized for the
 * announced window, decodes it. With memLevel 7 that is at most 32 KiB + 64 KiB = 96 KiB.
 * Inflate: 2^w' + about 7 KiB, w' the client's window, which only the client can lower: at most
 * 32 KiB + 7 KiB = 39 KiB. Add zlib's state (about 6 KiB each) and Node's 16 KiB output
 * chunk per stream: about 180 KiB per connection at most, allocated only once a message was
 * compressed (deflate) or a compressed one arrived (inflate). `concurrencyLimit` bounds how
 * many zlib jobs run at once in the process (their work buffers).
 *
 * Threshold. `ws` applies its `threshold` only when `server_no_context_takeover` was
 * negotiated and otherwise compresses every message; the runtime decides itself instead (see
 * `compresses`): a message of at least `threshold` bytes is compressed, a smaller one is not,
 * whatever was negotiated, for single sends and broadcasts alike.
 */
import type { PerMessageDeflateOptions, WebSocket } from 'ws';
import type { DeflateOptions } from '../options.js';
import { deflateParamsOf } from './ws-internals.js';

/** The largest deflate window the server uses: 2^13 = 8 KiB (see the memory bound above). */
export const MAX_SERVER_WINDOW_BITS = 13;
/** zlib's memLevel for the server's deflater: its hash table and buffers, 2^(7+9) = 64 KiB. */
export const MEM_LEVEL = 7;


/** The `perMessageDeflate` option of `ws`'s WebSocketServer for the resolved option. */
export function wsDeflateOptions(options: false | Required<DeflateOptions>): false | PerMessageDeflateOptions {
  if (options === false) return false;
  return {
    // Only used by ws when server_no_context_takeover was negotiated, and then the same rule
    // as `compresses`: kept so the two never disagree.
    threshold: options.threshold,
    concurrencyLimit: options.concurrencyLimit,
    zlibDeflateOptions: { memLevel: MEM_LEVEL },
    // No serverMaxWindowBits, clientMaxWindowBits, serverNoContextTakeover or
    // clientNoContextTakeover: set, each makes ws refuse (400) the offers it cannot match.
  };
}

/**
 * Called once a socket is upgraded, before anything was sent on it: true when
 * permessage-deflate was negotiated. Then it also bounds the server's deflate window to
 * 2^`MAX_SERVER_WINDOW_BITS` (ws creates its deflater from these parameters on the first
 * compressed message). This relies on a `ws` 8 internal (see ws-internals.ts);
 * test/integration/deflate.test.ts pins it by the size of what is sent.
 */
export function deflateNegotiated(ws: WebSocket): boolean {
  if (ws.extensions === '') return false;
  const params = deflateParamsOf(ws);
  if (params != null) {
    const asked = params.server_max_window_bits;
    const bits = typeof asked === 'number' ? asked : 15;
    if (bits > MAX_SERVER_WINDOW_BITS) params.server_max_window_bits = MAX_SERVER_WINDOW_BITS;
  }
  return true;
}

/** True: a message of `length` bytes goes out compressed on a connection that negotiated it. */
export function compresses(options: Required<DeflateOptions>, length: number): boolean {
  return length >= options.threshold;
}
