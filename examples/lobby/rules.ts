/**
 * The lobby's rules, as pure functions: what a valid name, room id and chat line are, and who
 * wins a round of rock-paper-scissors. Nothing here trusts the client: every check runs on the
 * server, on what the decoder (protocol.ts) let through.
 */

/** Names are 1–20 letters, digits, spaces, `_` or `-`, starting with a letter or digit. */
export const MAX_NAME_LENGTH = 20;
/** Room ids are 1–24 lowercase ASCII letters, digits or `-`, starting with a letter or digit. */
export const MAX_ROOM_LENGTH = 24;
/** Chat lines are 1–300 characters, no control characters. */
export const MAX_TEXT_LENGTH = 300;
/** At most this many rooms exist at once (a client cannot make the server hold unbounded state). */
export const MAX_ROOMS = 50;
/** Two players per room. */
export const ROOM_SIZE = 2;
/** Names nobody may take (the "check name" lookup answers them as taken). */
export const RESERVED_NAMES: ReadonlySet<string> = new Set(['admin', 'server', 'system', 'wsactor', 'moderator']);

export const HANDS = ['rock', 'paper', 'scissors'] as const;
export type Hand = (typeof HANDS)[number];

/** An error the server answers with: a stable code for programs, a sentence for people. */
export interface LobbyError {
  readonly error: string;
  readonly message: string;
}

const NAME = new RegExp(`^[\\p{L}\\p{N}][\\p{L}\\p{N} _-]{0,${MAX_NAME_LENGTH - 1}}$`, 'u');
const ROOM = new RegExp(`^[a-z0-9][a-z0-9-]{0,${MAX_ROOM_LENGTH - 1}}$`);
const CONTROL_CHARS = /[\p{Cc}\p{Cf}\u2028\u2029]/u;

/** The name as the server keeps it: trimmed, NFC. */
export function normalizeName(raw: string): string {
  return raw.normalize('NFC').trim();
}

/** The room id as the server keeps it: trimmed, lowercase. */
export function normalizeRoomId(raw: string): string {
  return raw.trim().toLowerCase();
}

/** Two names are the same player name when they match case-insensitively. */
export function nameKey(name: string): string {
  return name.toLowerCase();
}

export function nameProblem(name: string): LobbyError | null {
  if (NAME.test(name)) return null;
  return { error: 'name-invalid', message: `A name is 1–${MAX_NAME_LENGTH} letters, digits, spaces, "_" or "-", starting with a letter or digit` };
}

export function roomIdProblem(room: string): LobbyError | null {
  if (ROOM.test(room)) return null;
  return { error: 'room-invalid', message: `A room id is 1–${MAX_ROOM_LENGTH} lowercase letters, digits or "-", starting with a letter or digit` };
}

export function textProblem(text: string): LobbyError | null {
  if (text.length === 0 || [...text].length > MAX_TEXT_LENGTH) return { error: 'text-invalid', message: `A message is 1–${MAX_TEXT_LENGTH} characters` };
  if (CONTROL_CHARS.test(text)) return { error: 'text-invalid', message: 'A message must not contain control characters' };
  return null;
}

export function isHand(value: string): value is Hand {
  return (HANDS as readonly string[]).includes(value);
}

/** 1 when `a` beats `b`, -1 when it loses, 0 for a tie. */
export function compareHands(a: Hand, b: Hand): 1 | 0 | -1 {
  if (a === b) return 0;
  const beats: Record<Hand, Hand> = { rock: 'scissors', paper: 'rock', scissors: 'paper' };
  return beats[a] === b ? 1 : -1;
}
