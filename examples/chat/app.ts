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
 * `at` is an ISO 8601 timestamp; `id` is the wsactor client id.
 */
import { CloseCode, type Endpoint, type HandshakeRequest, type HandshakeResponse, type Message, type Websocket } from '../../src/index.js';

/** Longest name accepted, in characters (code points). */
export const MAX_NAME_LENGTH = 32;
/** Largest chat message accepted, in bytes; larger ones get an error reply. */
export const MAX_MESSAGE_BYTES = 4 * 1024;

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

// Any C0/C1 control character, DEL included.
const CONTROL_CHARS = /\p{Cc}/u;

/** Why a requested name is unacceptable, or null when it is fine. */
export function nameProblem(name: string): string | null {
  if ([...name].length > MAX_NAME_LENGTH) return `Name must be at most ${MAX_NAME_LENGTH} characters`;
  if (CONTROL_CHARS.test(name)) return 'Name must not contain control characters';
  return null;
}

export class ChatApp implements Websocket<{ name: string }> {
  /** Per-client state, keyed by client id; an entry exists from `onOpen` until `onClose`. */
  readonly users = new Map<number, ChatUser>();
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

  onHandshake(request: HandshakeRequest, response: HandshakeResponse): { name: string } {
    const requested = (request.query.get('name') ?? '').trim();
    const problem = nameProblem(requested);
    if (problem !== null) {
      response.reject(400, problem);
      return { name: requested };
    }
    return { name: requested === '' ? `guest-${++this.#guests}` : requested };
  }

  async onOpen(clientId: number, { name }: { name: string }): Promise<void> {
    const endpoint = this.#requireEndpoint();
    this.users.set(clientId, { id: clientId, name, joinedAt: this.#now() });
    const users = [...this.users.values()].map((user) => ({ id: user.id, name: user.name }));
    // Both sends are issued before either is awaited, so the newcomer sees its welcome first
    // and nobody can slip a message in between.
    await Promise.all([
      endpoint.send(encode({ type: 'welcome', id: clientId, name, users }), clientId),
      endpoint.broadcast(encode({ type: 'join', id: clientId, name, at: this.#stamp() }), [clientId]),
    ]);
  }

  async onData(clientId: number, message: Message): Promise<void> {
    const endpoint = this.#requireEndpoint();
    if (message.isBinary) {
      await endpoint.close(clientId, CloseCode.UNSUPPORTED_DATA, 'text only');
      return;
    }
    if (message.size > MAX_MESSAGE_BYTES) {
      await this.#replyError(clientId, `Message too large: ${message.size} bytes (max ${MAX_MESSAGE_BYTES})`);
      return;
    }
    const parsed = parseChat(await message.text());
    if (typeof parsed === 'string') {
      await this.#replyError(clientId, parsed);
      return;
    }
    const user = this.users.get(clientId);
    if (user === undefined) return; // closed meanwhile
    await endpoint.broadcast(encode({ type: 'chat', from: user.name, id: clientId, text: parsed.text, at: this.#stamp() }));
  }

  async onClose(clientId: number, code: number, reason: string): Promise<void> {
    const user = this.users.get(clientId);
    this.users.delete(clientId);
    if (user === undefined) return;
    const notice = encode({ type: 'leave', id: clientId, name: user.name, code, reason, at: this.#stamp() });
    await this.#requireEndpoint().broadcast(notice, [clientId]);
  }

  onStop(): void {
    this.#log(`chat: stopping, closing ${this.users.size} client${this.users.size === 1 ? '' : 's'}`);
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
