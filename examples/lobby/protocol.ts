/**
 * What travels on the lobby's socket (text frames of JSON only).
 *
 * Client -> server (each becomes an event of the player's machine, see machine.ts):
 *   { "type": "name",   "name": "ada" }          naming: ask for a name (checked asynchronously)
 *   { "type": "join",   "room": "den" }          lobby: enter a room (created when new; 2 players max)
 *   { "type": "say",    "text": "hi" }           room: chat to the room
 *   { "type": "choose", "hand": "rock" }         room: play this round (rock, paper or scissors)
 *   { "type": "exit" }                           room: back to the lobby
 *   { "type": "leave" }                          anywhere: leave; the server closes with 4000 "left"
 *
 * Server -> client:
 *   { "type": "lobby", "name", "rooms", "leaderboard" }        you are in the lobby (after naming or exit)
 *   { "type": "rooms", "rooms" }                               the rooms changed (to everyone)
 *   { "type": "room", "room", "players", "score", "chosen", "rounds" }  your room changed (to its players)
 *   { "type": "said", "room", "from", "text" }                 a chat line in your room
 *   { "type": "round", "room", "hands", "winner" }             a round was decided (winner null: a tie)
 *   { "type": "leaderboard", "leaderboard" }                   the saved scores changed (to everyone)
 *   { "type": "error", "error", "message" }                    your message was refused (see rules.ts)
 *   { "type": "error", "error": "unexpected", "event", "state" }   wsactor's answer to a message the
 *                                                               current state does not accept
 *   { "type": "error", "error": "undecodable", "event": null, "state" }  not one of the messages above
 */
import type { Message } from '../../src/index.js';
import { normalizeName, normalizeRoomId, type Hand } from './rules.js';

/** The events a client's messages become (the machine also gets wsactor's close event). */
export type ClientEvent =
  | { type: 'name'; name: string }
  | { type: 'join'; room: string }
  | { type: 'say'; text: string }
  | { type: 'choose'; hand: string }
  | { type: 'exit' }
  | { type: 'leave' };

export interface RoomSummary {
  readonly id: string;
  readonly players: readonly string[];
}

export interface LeaderboardEntry {
  readonly name: string;
  readonly wins: number;
}

export interface RoomView {
  readonly room: string;
  readonly players: readonly string[];
  /** Rounds won in this room by each player, in `players` order. */
  readonly score: readonly number[];
  /** Who has chosen a hand in the round being played (hands stay secret until both chose). */
  readonly chosen: readonly string[];
  /** Rounds decided since these two players met. */
  readonly rounds: number;
}

export interface RoundResult {
  readonly room: string;
  readonly hands: readonly { readonly name: string; readonly hand: Hand }[];
  /** The winner's name, or null for a tie. */
  readonly winner: string | null;
}

export type ServerMessage =
  | { type: 'lobby'; name: string; rooms: readonly RoomSummary[]; leaderboard: readonly LeaderboardEntry[] }
  | { type: 'rooms'; rooms: readonly RoomSummary[] }
  | ({ type: 'room' } & RoomView)
  | { type: 'said'; room: string; from: string; text: string }
  | ({ type: 'round' } & RoundResult)
  | { type: 'leaderboard'; leaderboard: readonly LeaderboardEntry[] }
  | { type: 'error'; error: string; message: string };

export function encode(message: ServerMessage): string {
  return JSON.stringify(message);
}

/** Longest text message decoded at all; the server's maxPayload closes anything far larger. */
export const MAX_MESSAGE_BYTES = 2048;
/** Longest string field kept before the rules look at it. */
const MAX_FIELD_LENGTH = 512;

/**
 * The `decode` of the player machine: a text message that is exactly one of the client
 * messages above becomes its event (strings normalized: names trimmed and NFC, room ids
 * trimmed and lowercase); anything else is undefined, which wsactor answers as undecodable.
 * Whether the content is acceptable (a valid name, a free room) is the machine's to decide.
 */
export async function decodeClientMessage(message: Message): Promise<ClientEvent | undefined> {
  if (message.isBinary || message.size > MAX_MESSAGE_BYTES) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(await message.text());
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const fields = value as Record<string, unknown>;
  const field = (key: string): string | undefined => {
    const v = fields[key];
    return typeof v === 'string' && v.length <= MAX_FIELD_LENGTH ? v : undefined;
  };
  switch (fields.type) {
    case 'name': {
      const name = field('name');
      return name === undefined ? undefined : { type: 'name', name: normalizeName(name) };
    }
    case 'join': {
      const room = field('room');
      return room === undefined ? undefined : { type: 'join', room: normalizeRoomId(room) };
    }
    case 'say': {
      const text = field('text');
      return text === undefined ? undefined : { type: 'say', text: text.trim() };
    }
    case 'choose': {
      const hand = field('hand');
      return hand === undefined ? undefined : { type: 'choose', hand };
    }
    case 'exit':
    case 'leave':
      return { type: fields.type };
    default:
      return undefined;
  }
}
