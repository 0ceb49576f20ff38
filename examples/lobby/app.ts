/**
 * The lobby app: what all players share (the names in use, the rooms and the rounds played
 * in them, the leaderboard), and the wsactor hooks around the per-client player machine
 * (machine.ts). There is no per-client Map here: each client's own state (its name, its room,
 * where it is in the protocol) is its machine's; `onClose` reads the final snapshot to take
 * the client out of its room and free its name.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { AnyMachineSnapshot } from 'xstate';
import { clientMachine, type ClientMachineConfig, type Endpoint, type UnexpectedPolicy, type Websocket } from '../../src/index.js';
import { announceRoom, createPlayerMachine, type LobbyWorld, type PlayerContext, type RoomUpdate } from './machine.js';
import { decodeClientMessage, type LeaderboardEntry, type RoomSummary, type RoundResult } from './protocol.js';
import { compareHands, isHand, MAX_ROOMS, nameKey, RESERVED_NAMES, ROOM_SIZE, type Hand, type LobbyError } from './rules.js';

/** The slow calls the machine waits for in its busy states. */
export type LobbyJob = 'check-name' | 'save-score';

export interface LobbyAppOptions {
  /**
   * The simulated store: resolves when the job's "database call" is done. Default: 150 ms for
   * a name check, 250 ms for saving a score.
   */
  latency?: (job: LobbyJob) => Promise<void>;
  /** wsactor's answer to a message the player's state does not accept. Default: 'error'. */
  unexpected?: UnexpectedPolicy;
}

/** Leaderboard rows kept at most, and shown. */
const MAX_LEADERBOARD = 1000;
const SHOWN_LEADERBOARD = 10;

interface Player {
  readonly id: number;
  readonly name: string;
}

interface Room {
  readonly id: string;
  readonly players: Player[];
  /** Hands chosen in the round being played, by client id. */
  readonly choices: Map<number, Hand>;
  /** Rounds won by client id since these players met. */
  readonly wins: Map<number, number>;
  rounds: number;
  /** Decided rounds not yet written to the leaderboard. */
  readonly unsaved: RoundResult[];
}

export class LobbyApp implements Websocket, LobbyWorld {
  readonly clientMachine: ClientMachineConfig;
  /** Name (case-insensitive key) → the client holding it. */
  readonly #names = new Map<string, number>();
  readonly #rooms = new Map<string, Room>();
  /** Name key → saved wins. */
  readonly #wins = new Map<string, LeaderboardEntry>();
  readonly #latency: (job: LobbyJob) => Promise<void>;
  #endpoint: Endpoint | null = null;

  constructor(options: LobbyAppOptions = {}) {
    this.#latency = options.latency ?? ((job) => sleep(job === 'check-name' ? 150 : 250));
    this.clientMachine = clientMachine(createPlayerMachine(this), { decode: decodeClientMessage, unexpected: options.unexpected ?? 'error' });
  }

  onStart(endpoint: Endpoint): void {
    this.#endpoint = endpoint;
  }

  /** Runs after the client's machine stopped: `machine` is its final snapshot. */
  onClose(clientId: number, _code: number, _reason: string, machine?: AnyMachineSnapshot): void {
    const room = (machine?.context as PlayerContext | undefined)?.room ?? null;
    if (room !== null && this.#isIn(room, clientId) && this.#endpoint !== null) announceRoom(this.#endpoint, this.exit(room, clientId), this.rooms());
    for (const [key, owner] of this.#names) if (owner === clientId) this.#names.delete(key);
  }

  // LobbyWorld: what the player machines share.

  async checkName(name: string, clientId: number, signal: AbortSignal): Promise<string> {
    await this.#latency('check-name');
    // The client went away while we looked: reserve nothing.
    signal.throwIfAborted();
    const key = nameKey(name);
    if (RESERVED_NAMES.has(key) || this.#names.has(key)) throw new Error(`name "${name}" is taken`);
    this.#names.set(key, clientId);
    return name;
  }

  joinProblem(room: string): LobbyError | null {
    const existing = this.#rooms.get(room);
    if (existing !== undefined && existing.players.length >= ROOM_SIZE) return { error: 'room-full', message: `Room "${room}" is full` };
    if (existing === undefined && this.#rooms.size >= MAX_ROOMS) return { error: 'rooms-limit', message: `There are ${MAX_ROOMS} rooms already; join one of them` };
    return null;
  }

  join(room: string, clientId: number, name: string): RoomUpdate {
    let existing = this.#rooms.get(room);
    if (existing === undefined) {
      existing = { id: room, players: [], choices: new Map(), wins: new Map(), rounds: 0, unsaved: [] };
      this.#rooms.set(room, existing);
    }
    existing.players.push({ id: clientId, name });
    newMatch(existing);
    return update(existing);
  }

  exit(room: string, clientId: number): RoomUpdate | null {
    const existing = this.#rooms.get(room);
    if (existing === undefined) return null;
    const at = existing.players.findIndex((player) => player.id === clientId);
    if (at >= 0) existing.players.splice(at, 1);
    if (existing.players.length === 0) {
      this.#rooms.delete(room);
      return null;
    }
    newMatch(existing);
    return update(existing);
  }

  chooseProblem(room: string, clientId: number, hand: string): LobbyError | null {
    if (!isHand(hand)) return { error: 'hand-invalid', message: 'Choose rock, paper or scissors' };
    const existing = this.#rooms.get(room);
    if (existing === undefined || !this.#isIn(room, clientId)) return { error: 'not-in-room', message: 'You are not in this room' };
    if (existing.players.length < ROOM_SIZE) return { error: 'no-opponent', message: 'Wait for an opponent to join' };
    if (existing.choices.has(clientId)) return { error: 'already-chosen', message: 'You have chosen already; wait for your opponent' };
    return null;
  }

  completesRound(room: string, clientId: number): boolean {
    const existing = this.#rooms.get(room);
    return existing !== undefined && existing.players.length === ROOM_SIZE && existing.choices.size === ROOM_SIZE - 1 && !existing.choices.has(clientId);
  }

  choose(room: string, clientId: number, hand: Hand): { round: RoundResult | null; update: RoomUpdate } {
    const existing = this.#rooms.get(room);
    if (existing === undefined) throw new Error(`no room "${room}"`);
    existing.choices.set(clientId, hand);
    const [a, b] = existing.players;
    const handA = a === undefined ? undefined : existing.choices.get(a.id);
    const handB = b === undefined ? undefined : existing.choices.get(b.id);
    if (a === undefined || b === undefined || handA === undefined || handB === undefined) return { round: null, update: update(existing) };
    const outcome = compareHands(handA, handB);
    const winner = outcome === 0 ? null : outcome > 0 ? a : b;
    if (winner !== null) existing.wins.set(winner.id, (existing.wins.get(winner.id) ?? 0) + 1);
    existing.rounds++;
    existing.choices.clear();
    const round: RoundResult = { room, hands: [{ name: a.name, hand: handA }, { name: b.name, hand: handB }], winner: winner?.name ?? null };
    existing.unsaved.push(round);
    return { round, update: update(existing) };
  }

  async saveRounds(room: string, signal: AbortSignal): Promise<readonly LeaderboardEntry[]> {
    await this.#latency('save-score');
    signal.throwIfAborted();
    const rounds = this.#rooms.get(room)?.unsaved.splice(0) ?? [];
    for (const { winner } of rounds) {
      if (winner === null) continue;
      const key = nameKey(winner);
      const entry = this.#wins.get(key);
      if (entry === undefined && this.#wins.size >= MAX_LEADERBOARD) continue;
      this.#wins.set(key, { name: winner, wins: (entry?.wins ?? 0) + 1 });
    }
    return this.leaderboard();
  }

  members(room: string): readonly number[] {
    return this.#rooms.get(room)?.players.map((player) => player.id) ?? [];
  }

  rooms(): readonly RoomSummary[] {
    return [...this.#rooms.values()].map((room) => ({ id: room.id, players: room.players.map((player) => player.name) }));
  }

  leaderboard(): readonly LeaderboardEntry[] {
    return [...this.#wins.values()].sort((x, y) => y.wins - x.wins || x.name.localeCompare(y.name)).slice(0, SHOWN_LEADERBOARD);
  }

  #isIn(room: string, clientId: number): boolean {
    return this.#rooms.get(room)?.players.some((player) => player.id === clientId) ?? false;
  }
}

/** New players met: the score and the round start over. */
function newMatch(room: Room): void {
  room.choices.clear();
  room.wins.clear();
  room.rounds = 0;
}

function update(room: Room): RoomUpdate {
  return {
    members: room.players.map((player) => player.id),
    view: {
      room: room.id,
      players: room.players.map((player) => player.name),
      score: room.players.map((player) => room.wins.get(player.id) ?? 0),
      chosen: room.players.filter((player) => room.choices.has(player.id)).map((player) => player.name),
      rounds: room.rounds,
    },
  };
}
