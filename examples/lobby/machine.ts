/**
 * The player machine: one actor of it per connected client (wsactor's `clientMachine`), fed
 * by that client's messages in order. It is the client's protocol, and all of its per-client
 * state:
 *
 *   naming ──name──▶ checkingName (busy) ──ok──▶ lobby ──join──▶ room.playing ──choose──▶ room.saving (busy)
 *     ▲                    │ taken                 ▲               │  ▲  say                    │ saved
 *     └────────────────────┘                       └─────exit──────┘  └───────────────────────────┘
 *   leave (from any state) ──▶ left (final: the server closes with 4000 "left")
 *
 * What is shared between clients (names in use, rooms, the rounds being played, the
 * leaderboard) lives in the app (app.ts), reached through {@link LobbyWorld}; the machine
 * keeps only this client's own name and room. Its actions talk back through the Endpoint
 * with `clientOf(self)`: `send` to this client, `multicast` to its room, `broadcast` to all.
 *
 * Messages the current state does not accept (a `choose` in the lobby, say) are answered by
 * wsactor's policy; messages it accepts but whose content is wrong (a bad name, a full room)
 * get an error from the machine itself, and the state does not change.
 */
import { assign, fromPromise, setup, type AnyActorRef } from 'xstate';
import { clientOf, type ClientCloseEvent, type ClientMachineInput, type Endpoint } from '../../src/index.js';
import { encode, type ClientEvent, type LeaderboardEntry, type RoomSummary, type RoomView, type RoundResult, type ServerMessage } from './protocol.js';
import { nameProblem, roomIdProblem, textProblem, type Hand, type LobbyError } from './rules.js';

/** The close code and reason of a client that left (the machine's output in its final state). */
export const LEFT = { code: 4000, reason: 'left' } as const;

/** The players of a room after a change, and how it looks now. */
export interface RoomUpdate {
  readonly members: readonly number[];
  readonly view: RoomView;
}

/** What the player machine needs from the app: the state all clients share. */
export interface LobbyWorld {
  /** Resolves with the name, now reserved for this client; rejects when it is taken. */
  checkName(name: string, clientId: number, signal: AbortSignal): Promise<string>;
  /** Why this (valid) room cannot be joined now, or null. */
  joinProblem(room: string): LobbyError | null;
  join(room: string, clientId: number, name: string): RoomUpdate;
  /** Takes the client out of its room: the room as the others now see it (null: nobody left). */
  exit(room: string, clientId: number): RoomUpdate | null;
  /** Why this client cannot play this hand now, or null. */
  chooseProblem(room: string, clientId: number, hand: string): LobbyError | null;
  /** Whether this client's hand would decide the round (the other player has chosen). */
  completesRound(room: string, clientId: number): boolean;
  choose(room: string, clientId: number, hand: Hand): { readonly round: RoundResult | null; readonly update: RoomUpdate };
  /** Writes the room's decided rounds to the leaderboard (a slow store): the new leaderboard. */
  saveRounds(room: string, signal: AbortSignal): Promise<readonly LeaderboardEntry[]>;
  members(room: string): readonly number[];
  rooms(): readonly RoomSummary[];
  leaderboard(): readonly LeaderboardEntry[];
}

export interface PlayerContext {
  readonly id: number;
  /** The player's name, '' until the check passed. */
  readonly name: string;
  /** The name being checked (in `checkingName`), else ''. */
  readonly pending: string;
  /** The room the player is in, or null. */
  readonly room: string | null;
}

export type PlayerEvent = ClientEvent | ClientCloseEvent;

/** Tells a room's players (and, with `rooms`, everyone) how it looks now. */
export function announceRoom(endpoint: Endpoint, update: RoomUpdate | null, rooms: readonly RoomSummary[]): void {
  if (update !== null) void endpoint.multicast(encode({ type: 'room', ...update.view }), update.members);
  void endpoint.broadcast(encode({ type: 'rooms', rooms }));
}

export function createPlayerMachine(world: LobbyWorld) {
  const reply = (self: AnyActorRef, message: ServerMessage): void => void clientOf(self).send(encode(message));
  const refuse = (self: AnyActorRef, problem: LobbyError | null): void => {
    if (problem !== null) reply(self, { type: 'error', ...problem });
  };
  const joinProblem = (room: string): LobbyError | null => roomIdProblem(room) ?? world.joinProblem(room);

  return setup({
    types: {
      context: {} as PlayerContext,
      events: {} as PlayerEvent,
      input: {} as ClientMachineInput,
      output: {} as { code: number; reason: string },
    },
    actors: {
      checkName: fromPromise<string, { name: string; clientId: number }>(({ input, signal }) => world.checkName(input.name, input.clientId, signal)),
      saveRounds: fromPromise<readonly LeaderboardEntry[], { room: string }>(({ input, signal }) => world.saveRounds(input.room, signal)),
    },
    guards: {
      nameIsValid: ({ event }) => event.type === 'name' && nameProblem(event.name) === null,
      canJoin: ({ event }) => event.type === 'join' && joinProblem(event.room) === null,
      textIsValid: ({ event }) => event.type === 'say' && textProblem(event.text) === null,
      canChoose: ({ context, event }) => event.type === 'choose' && context.room !== null && world.chooseProblem(context.room, context.id, event.hand) === null,
      completesRound: ({ context, event }) =>
        event.type === 'choose' && context.room !== null && world.chooseProblem(context.room, context.id, event.hand) === null && world.completesRound(context.room, context.id),
    },
    actions: {
      sendLobby: ({ self, context }) => reply(self, { type: 'lobby', name: context.name, rooms: world.rooms(), leaderboard: world.leaderboard() }),
      refuseName: ({ self, event }) => event.type === 'name' && refuse(self, nameProblem(event.name)),
      refuseTakenName: ({ self, context }) => reply(self, { type: 'error', error: 'name-taken', message: `The name "${context.pending}" is taken; pick another one` }),
      refuseJoin: ({ self, event }) => event.type === 'join' && refuse(self, joinProblem(event.room)),
      refuseText: ({ self, event }) => event.type === 'say' && refuse(self, textProblem(event.text)),
      refuseChoice: ({ self, context, event }) => event.type === 'choose' && context.room !== null && refuse(self, world.chooseProblem(context.room, context.id, event.hand)),
      enterRoom: ({ self, context }) => {
        if (context.room === null) return;
        announceRoom(clientOf(self).endpoint, world.join(context.room, context.id, context.name), world.rooms());
      },
      exitRoom: ({ self, context }) => {
        if (context.room === null) return;
        announceRoom(clientOf(self).endpoint, world.exit(context.room, context.id), world.rooms());
      },
      say: ({ self, context, event }) => {
        if (event.type !== 'say' || context.room === null) return;
        const message = encode({ type: 'said', room: context.room, from: context.name, text: event.text });
        void clientOf(self).endpoint.multicast(message, world.members(context.room));
      },
      choose: ({ self, context, event }) => {
        if (event.type !== 'choose' || context.room === null) return;
        const { round, update } = world.choose(context.room, context.id, event.hand as Hand);
        const { endpoint } = clientOf(self);
        if (round !== null) void endpoint.multicast(encode({ type: 'round', ...round }), update.members);
        void endpoint.multicast(encode({ type: 'room', ...update.view }), update.members);
      },
      announceLeaderboard: ({ self }, { leaderboard }: { leaderboard: readonly LeaderboardEntry[] }) =>
        void clientOf(self).endpoint.broadcast(encode({ type: 'leaderboard', leaderboard })),
      refuseSave: ({ self }) => reply(self, { type: 'error', error: 'save-failed', message: 'The score could not be saved' }),
    },
  }).createMachine({
    id: 'player',
    context: ({ input }) => ({ id: input.clientId, name: '', pending: '', room: null }),
    initial: 'naming',
    // Leaving is always possible; a player in a room leaves it first.
    on: { leave: { target: '.left', actions: ['exitRoom', assign({ room: null })] } },
    states: {
      naming: {
        on: {
          name: [
            { guard: 'nameIsValid', target: 'checkingName', actions: assign({ pending: ({ event }) => event.name }) },
            { actions: 'refuseName' },
          ],
        },
      },
      // A slow lookup (a user database, say): the client's next messages wait until it answered.
      checkingName: {
        tags: ['busy'],
        invoke: {
          id: 'checkName',
          src: 'checkName',
          input: ({ context }) => ({ name: context.pending, clientId: context.id }),
          onDone: { target: 'lobby', actions: [assign({ name: ({ event }) => event.output, pending: '' }), 'sendLobby'] },
          onError: { target: 'naming', actions: ['refuseTakenName', assign({ pending: '' })] },
        },
      },
      lobby: {
        on: {
          join: [
            { guard: 'canJoin', target: 'room', actions: [assign({ room: ({ event }) => event.room }), 'enterRoom'] },
            { actions: 'refuseJoin' },
          ],
        },
      },
      room: {
        initial: 'playing',
        on: {
          say: [{ guard: 'textIsValid', actions: 'say' }, { actions: 'refuseText' }],
          exit: { target: 'lobby', actions: ['exitRoom', assign({ room: null }), 'sendLobby'] },
        },
        states: {
          playing: {
            on: {
              choose: [
                // The second hand decides the round: save the score before reading on.
                { guard: 'completesRound', target: 'saving', actions: 'choose' },
                { guard: 'canChoose', actions: 'choose' },
                { actions: 'refuseChoice' },
              ],
            },
          },
          saving: {
            tags: ['busy'],
            invoke: {
              id: 'saveRounds',
              src: 'saveRounds',
              input: ({ context }) => ({ room: context.room ?? '' }),
              onDone: { target: 'playing', actions: { type: 'announceLeaderboard', params: ({ event }) => ({ leaderboard: event.output }) } },
              onError: { target: 'playing', actions: 'refuseSave' },
            },
          },
        },
      },
      left: { type: 'final' },
    },
    output: LEFT,
  });
}

export type PlayerMachine = ReturnType<typeof createPlayerMachine>;
