/**
 * Chat application: every client picks a name with `?name=` on the upgrade URL, chat messages
 * go to everyone, and joins and leaves are announced.
 *
 * Client -> server (text frames only):
 *   { "type": "chat", "text": "hello" }
 *
 * Server -> client:
 *   { "type": "welcome", "id", "name", "users": [{ "id", "name" }] }   to the newcomer
 *   { "type": "join", "id", "name", "at" }                              to everyone else
 *   { "type": "chat", "from", "id", "text", "at" }                      to everyone
 *   { "type": "leave", "id", "name", "code", "reason", "at" }           to everyone left
 *   { "type": "error", "error" }                                        to one client
 *
 * A refused name (too long, invisible or control characters, or taken by someone online, ignoring
 * case) is answered by closing with code 4001 and the reason as the close reason: a browser cannot
 * read the body of a refused handshake, but it does get the close reason. No name gives
 * `guest-N`, the first such name nobody online holds.
 *
 * `at` is an ISO 8601 timestamp; `id` is the wsactor client id.
 */
import { CloseCode, type Endpoint, type HandshakeRequest, type HandshakeResponse, type Message, type Websocket } from '../../src/index.js';

/** Longest name accepted, in characters (code points). */
export const MAX_NAME_LENGTH = 32;
/** Longest chat text accepted, in UTF-8 bytes of the text itself (not of its JSON encoding). */
export const MAX_MESSAGE_BYTES = 4 * 1024;
/**
 * Largest frame read at all: the JSON encoding of a text at the limit can be up to six times its
 * size (`\u0001` for each control byte), plus the envelope.
 */
export const MAX_FRAME_BYTES = MAX_MESSAGE_BYTES * 6 + 1024;
/** Close code for a refused name; the close reason says why. */
export const NAME_REFUSED = 4001;
/** How long a newcomer waits for a closing client to release the name it asks for. */
const NAME_RELEASE_WAIT_MS = 2000;

export interface ChatUser {
  readonly id: number;
  readonly name: string;
  readonly joinedAt: Date;
}

/** Server -> client messages. */
export type ChatServerMessage =
  | { type: 'welcome'; id: number; name: string; users: { id: number; name: string }[] }
  | { type: 'join'; id: number; name: string; at: string }
  | { type: 'chat'; from: string; id: number; text: string; at: string }
  | { type: 'leave'; id: number; name: string; code: number; reason: string; at: string }
  | { type: 'error'; error: string };

export interface ChatAppOptions {
  /** Where `onStop` reports. Default: console.log. */
  log?: (line: string) => void;
  /** Time source for `at` fields. Default: `() => new Date()`. */
  now?: () => Date;
}

/**
 * Characters a name must not contain: controls (Cc), format characters (Cf: the bidi overrides
 * and isolates U+202A-U+202E and U+2066-U+2069, U+200B-U+200F, U+FEFF...), lone surrogates (Cs),
 * line and paragraph separators, and everything else Unicode says is invisible by default
 * (Default_Ignorable_Code_Point: Hangul fillers, variation selectors, U+034F...).
 */
const FORBIDDEN = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]/u;
const PICTOGRAPHIC = /\p{Extended_Pictographic}/u;
const EMOJI = /\p{Emoji}/u;
const EMOJI_MODIFIER = /\p{Emoji_Modifier}/u;
const ZWJ = '\u200D';
const VARIATION_SELECTORS = new Set(['\uFE0E', '\uFE0F']);

/**
 * The first character of `name` that is invisible or a control, or null. Emoji sequences stay
 * allowed: U+FE0E/U+FE0F right after an emoji, and U+200D between two pictographs.
 */
export function forbiddenCharacter(name: string): string | null {
  const chars = [...name];
  for (const [i, char] of chars.entries()) {
    if (!FORBIDDEN.test(char)) continue;
    const before = chars[i - 1];
    if (VARIATION_SELECTORS.has(char) && EMOJI.test(before ?? '')) continue;
    if (char === ZWJ && isPictographEnd(chars, i - 1) && PICTOGRAPHIC.test(chars[i + 1] ?? '')) continue;
    return char;
  }
  return null;
}

/** Whether `chars[end]` ends a pictograph, counting a trailing U+FE0F or skin-tone modifier. */
function isPictographEnd(chars: string[], end: number): boolean {
  let i = end;
  const last = chars[i];
  if (last !== undefined && (VARIATION_SELECTORS.has(last) || EMOJI_MODIFIER.test(last))) i -= 1;
  return PICTOGRAPHIC.test(chars[i] ?? '');
}

/** `U+202E` for a character. */
export function codePointLabel(char: string): string {
  return `U+${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Why a requested (trimmed) name is unacceptable on its own, or null when it is fine. */
export function nameProblem(name: string): string | null {
  if ([...name].length > MAX_NAME_LENGTH) return `Name must be at most ${MAX_NAME_LENGTH} characters`;
  const bad = forbiddenCharacter(name);
  if (bad !== null) return `Name must not contain invisible or control characters (${codePointLabel(bad)})`;
  return null;
}

/**
 * What two names must not share to be told apart: compatibility-normalized, case-folded, spaces
 * collapsed, emoji variation selectors dropped.
 */
export function nameKey(name: string): string {
  return name.normalize('NFKC').toUpperCase().toLowerCase().replace(/\s+/gu, ' ').replace(/[\uFE0E\uFE0F]/gu, '');
}

export const NAME_TAKEN = 'Name already taken by someone online (names ignore case): pick another';

export class ChatApp implements Websocket<{ name: string }> {
  /** Per-client state, keyed by client id; an entry exists from a successful `onOpen` until `onClose`. */
  readonly users = new Map<number, ChatUser>();
  /** `nameKey` -> id of the user holding it. */
  readonly #holders = new Map<string, number>();
  /** Newcomers waiting for a closing client (by id) to release its name. */
  readonly #releaseWaiters = new Map<number, (() => void)[]>();
  #endpoint: Endpoint | null = null;
  #guests = 0;
  readonly #log: (line: string) => void;
  readonly #now: () => Date;

  constructor(options: ChatAppOptions = {}) {
    this.#log = options.log ?? ((line) => console.log(line));
    this.#now = options.now ?? (() => new Date());
  }

  onStart(endpoint: Endpoint): void {
    this.#endpoint = endpoint;
  }

  // Names are checked in onOpen, not here: a refused handshake reaches a browser as a bare 1006.
  onHandshake(request: HandshakeRequest, _response: HandshakeResponse): { name: string } {
    return { name: (request.query.get('name') ?? '').trim() };
  }

  async onOpen(clientId: number, { name: requested }: { name: string }): Promise<void> {
    const endpoint = this.#requireEndpoint();
    const problem = nameProblem(requested);
    if (problem !== null) {
      await endpoint.close(clientId, NAME_REFUSED, problem);
      return;
    }
    const deadline = Date.now() + NAME_RELEASE_WAIT_MS;
    for (;;) {
      const holder = requested === '' ? undefined : this.#holders.get(nameKey(requested));
      if (holder === undefined) break;
      // A holder whose close has begun (a reconnect with the same name) releases it in onClose.
      if (endpoint.getLocalClients().includes(holder) || Date.now() >= deadline) {
        await endpoint.close(clientId, NAME_REFUSED, NAME_TAKEN);
        return;
      }
      await this.#released(holder, deadline - Date.now());
    }
    // From the check above to here nothing awaits, so no other newcomer can take the name between.
    const name = requested === '' ? this.#nextGuestName() : requested;
    this.users.set(clientId, { id: clientId, name, joinedAt: this.#now() });
    this.#holders.set(nameKey(name), clientId);
    const users = [...this.users.values()].map((user) => ({ id: user.id, name: user.name }));
    // Both sends are issued before either is awaited, so the newcomer sees its welcome first
    // and nobody can slip a message in between.
    await Promise.all([
      endpoint.send(encode({ type: 'welcome', id: clientId, name, users }), clientId),
      endpoint.multicast(encode({ type: 'join', id: clientId, name, at: this.#stamp() }), this.#others(clientId)),
    ]);
  }

  async onData(clientId: number, message: Message): Promise<void> {
    const endpoint = this.#requireEndpoint();
    if (message.isBinary) {
      await endpoint.close(clientId, CloseCode.UNSUPPORTED_DATA, 'text only');
      return;
    }
    if (message.size > MAX_FRAME_BYTES) {
      await this.#replyError(clientId, `Message too large: ${message.size} bytes (max ${MAX_MESSAGE_BYTES} bytes of text)`);
      return;
    }
    const parsed = parseChat(await message.text());
    if (typeof parsed === 'string') {
      await this.#replyError(clientId, parsed);
      return;
    }
    const bytes = Buffer.byteLength(parsed.text, 'utf8');
    if (bytes > MAX_MESSAGE_BYTES) {
      await this.#replyError(clientId, `Message too long: ${bytes} bytes (max ${MAX_MESSAGE_BYTES})`);
      return;
    }
    const user = this.users.get(clientId);
    if (user === undefined) return; // closed meanwhile
    await endpoint.multicast(encode({ type: 'chat', from: user.name, id: clientId, text: parsed.text, at: this.#stamp() }), this.users.keys());
  }

  async onClose(clientId: number, code: number, reason: string): Promise<void> {
    const user = this.users.get(clientId);
    this.users.delete(clientId);
    if (user === undefined) return; // its name was refused: nobody was told it came
    const key = nameKey(user.name);
    if (this.#holders.get(key) === clientId) this.#holders.delete(key);
    const notice = encode({ type: 'leave', id: clientId, name: user.name, code, reason, at: this.#stamp() });
    const sent = this.#requireEndpoint().multicast(notice, this.users.keys());
    // The leave is queued before a waiting newcomer's join.
    for (const wake of this.#releaseWaiters.get(clientId) ?? []) wake();
    this.#releaseWaiters.delete(clientId);
    await sent;
  }

  onStop(): void {
    this.#log(`chat: stopping, closing ${this.users.size} client${this.users.size === 1 ? '' : 's'}`);
  }

  /**
   * Everyone welcomed but `clientId`. Chat traffic goes to welcomed users only: a newcomer still
   * in onOpen (waiting for its name) must not get messages before its welcome.
   */
  #others(clientId: number): number[] {
    return [...this.users.keys()].filter((id) => id !== clientId);
  }

  /** Resolves when `holder`'s onClose released its name, or after `ms`. */
  #released(holder: number, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, ms));
      const waiters = this.#releaseWaiters.get(holder) ?? [];
      waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
      this.#releaseWaiters.set(holder, waiters);
    });
  }

  /** `guest-N` for the next N whose name nobody online holds (someone may have typed it). */
  #nextGuestName(): string {
    for (;;) {
      const name = `guest-${++this.#guests}`;
      if (!this.#holders.has(nameKey(name))) return name;
    }
  }

  async #replyError(clientId: number, error: string): Promise<void> {
    await this.#requireEndpoint().send(encode({ type: 'error', error }), clientId);
  }

  #stamp(): string {
    return this.#now().toISOString();
  }

  #requireEndpoint(): Endpoint {
    if (this.#endpoint === null) throw new Error('ChatApp used before onStart');
    return this.#endpoint;
  }
}

function encode(message: ChatServerMessage): string {
  return JSON.stringify(message);
}

/** Parses a client message: the chat text, or a description of what is wrong. */
export function parseChat(raw: string): { text: string } | string {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return 'Invalid JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'Expected a JSON object';
  const { type, text } = value as { type?: unknown; text?: unknown };
  if (type !== 'chat') return `Unknown message type: ${JSON.stringify(type) ?? 'undefined'}`;
  if (typeof text !== 'string') return '"text" must be a string';
  if (text.trim() === '') return '"text" must not be empty';
  return { text };
}
