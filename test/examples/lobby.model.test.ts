/**
 * Model-based test of the lobby example's player machine (examples/lobby/machine.ts), driven
 * through real sockets against a real server.
 *
 * The model is the machine itself over a model world: the shared state it consults (rooms,
 * names in use) is replaced by the fixture every path starts from: "pat" waits in room "duel"
 * and always plays first, "fay" and "gus" fill room "full", every other room is empty, and
 * "pat", "fay", "gus" and the reserved names are taken. `xstate/graph`'s getShortestPaths walks
 * it with representative events (valid and invalid names, rooms, chat lines and hands, each
 * event in each state, the answers of the two slow lookups), with a vertex per transition
 * (state and context before, event, state and context after), so every transition, refusal
 * and policy answer of the model is the last step of some path.
 *
 * For each path a fresh server gets the fixture, and a `ws` client sends the path's events as
 * messages. The slow lookups are held by a gate the test opens when the path says they
 * answer. After each step the test checks the reply the step must produce and the server-side
 * state of the client's machine (`endpoint.getLocalInfo(id).machine_state`); at the end, the
 * machine transitions `server.lifecycle` reported equal the model's.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { transition, type EventObject, type SnapshotFrom } from 'xstate';
import { getShortestPaths, type StatePath } from 'xstate/graph';
import { LobbyApp, type LobbyJob } from '../../examples/lobby/app.js';
import { createPlayerMachine, type LobbyWorld } from '../../examples/lobby/machine.js';
import type { ClientEvent, ServerMessage } from '../../examples/lobby/protocol.js';
import { isHand, nameKey, nameProblem, RESERVED_NAMES, roomIdProblem, textProblem, type LobbyError } from '../../examples/lobby/rules.js';
import { startLobby, type RunningLobby } from '../../examples/lobby/server.js';
import { LobbyClient, until } from './lobby-client.js';

// The fixture every path starts from, and the model world that describes it.
const OPPONENT = 'pat';
const TAKEN = new Set([OPPONENT, 'fay', 'gus', ...RESERVED_NAMES]);
const refusal = (error: string): LobbyError => ({ error, message: error });
const notInModel = (): never => {
  throw new Error('the model world has no side effects (actions do not run in a traversal)');
};
const modelWorld: LobbyWorld = {
  joinProblem: (room) => (room === 'full' ? refusal('room-full') : null),
  chooseProblem: (room, _id, hand) => (!isHand(hand) ? refusal('hand-invalid') : room === 'duel' ? null : refusal('no-opponent')),
  // pat has always chosen by the time the player does (the driver waits for it).
  completesRound: (room) => room === 'duel',
  checkName: notInModel,
  join: notInModel,
  exit: notInModel,
  choose: notInModel,
  saveRounds: notInModel,
  members: notInModel,
  rooms: notInModel,
  leaderboard: notInModel,
};

/** Representative client events: each valid and invalid kind of content, for every state. */
const CLIENT_EVENTS: readonly ClientEvent[] = [
  { type: 'name', name: 'ada' },
  { type: 'name', name: OPPONENT },
  { type: 'name', name: '<b>' },
  { type: 'join', room: 'duel' },
  { type: 'join', room: 'solo' },
  { type: 'join', room: 'full' },
  { type: 'join', room: 'no room!' },
  { type: 'say', text: 'hi' },
  { type: 'say', text: '' },
  { type: 'choose', hand: 'rock' },
  { type: 'choose', hand: 'lizard' },
  { type: 'exit' },
  { type: 'leave' },
];

type Snapshot = SnapshotFrom<typeof model>;
type ModelEvent = ClientEvent | { type: 'xstate.done.actor.checkName'; output: string } | { type: 'xstate.error.actor.checkName'; error: unknown } | { type: 'xstate.done.actor.saveRounds'; output: [] };

const model = createPlayerMachine(modelWorld);

/** What the machine can get in `snapshot`: in a busy state only its lookup's answer (messages wait). */
function eventsIn(snapshot: Snapshot): readonly ModelEvent[] {
  if (snapshot.status !== 'active') return [];
  if (snapshot.matches('checkingName')) {
    const name = snapshot.context.pending;
    return [TAKEN.has(nameKey(name)) ? { type: 'xstate.error.actor.checkName', error: new Error('taken') } : { type: 'xstate.done.actor.checkName', output: name }];
  }
  if (snapshot.matches({ room: 'saving' })) return [{ type: 'xstate.done.actor.saveRounds', output: [] }];
  return CLIENT_EVENTS;
}

/** `{ room: 'playing' }` → `room.playing`, as wsactor reports `machine_state`. */
function stateName(value: unknown): string {
  if (typeof value === 'string') return value;
  return Object.entries(value as Record<string, unknown>)
    .map(([key, child]) => `${key}.${stateName(child)}`)
    .join(',');
}

const stateKey = (snapshot: Snapshot): string => {
  const { name, pending, room } = snapshot.context;
  return `${stateName(snapshot.value)} ${JSON.stringify({ name, pending, room })}`;
};

/** A vertex per transition (state before, event, state after): shortest paths then end in each one. */
const serializeState = (snapshot: Snapshot, event: EventObject | undefined, before: Snapshot | undefined): string =>
  event === undefined || before === undefined ? stateKey(snapshot) : `${stateKey(before)} --${JSON.stringify(event)}--> ${stateKey(snapshot)}`;

function modelPaths(): StatePath<Snapshot, ModelEvent>[] {
  const paths = getShortestPaths(model, {
    input: { clientId: 1, handshake: undefined },
    events: (snapshot) => eventsIn(snapshot) as never,
    serializeState,
    limit: 5000,
  }) as unknown as StatePath<Snapshot, ModelEvent>[];
  // Drop the paths that are a prefix of a longer one.
  const key = (path: StatePath<Snapshot, ModelEvent>): string[] => transitionsOf(path).map((step) => JSON.stringify(step.event));
  const sorted = [...paths].sort((a, b) => b.steps.length - a.steps.length);
  const kept: StatePath<Snapshot, ModelEvent>[] = [];
  for (const path of sorted) {
    const events = key(path);
    if (events.length === 0) continue;
    if (kept.some((longer) => events.every((event, i) => key(longer)[i] === event))) continue;
    kept.push(path);
  }
  return kept.reverse();
}

/** A path as transitions: xstate/graph's steps are (event, state reached), the first being `xstate.init`. */
interface Transition {
  readonly before: Snapshot;
  readonly event: ModelEvent;
  readonly after: Snapshot;
}

function transitionsOf(path: StatePath<Snapshot, ModelEvent>): Transition[] {
  return path.steps.slice(1).map((step, i) => ({ before: (path.steps[i] as { state: Snapshot }).state, event: step.event, after: step.state }));
}

/** A message a busy state must hold back when the path ends in it: harmless in the state that follows. */
function probeIn(snapshot: Snapshot): ClientEvent {
  if (snapshot.matches('naming')) return { type: 'name', name: '<b>' };
  if (snapshot.matches('lobby')) return { type: 'join', room: 'no room!' };
  return { type: 'say', text: 'probe' };
}

/**
 * The path's transitions; when it ends with a slow lookup's answer, plus a probe message (sent
 * while the lookup runs, so the test sees the busy state hold it back).
 */
function stepsOf(path: StatePath<Snapshot, ModelEvent>): Transition[] {
  const steps = transitionsOf(path);
  const last = steps.at(-1);
  if (last === undefined || isClientEvent(last.event) || last.after.status !== 'active') return steps;
  const probe = probeIn(last.after);
  const [after] = transition(model, last.after as never, probe);
  return [...steps, { before: last.after, event: probe, after }];
}

type Expectation = { readonly reply: (message: ServerMessage) => boolean; readonly what: string } | { readonly close: { code: number; reason: string } } | { readonly none: true };

const isError = (error: string) => (message: ServerMessage) => message.type === 'error' && message.error === error;
const errorReply = (problem: LobbyError | null): Expectation => ({ reply: isError(problem?.error ?? '?'), what: `error ${problem?.error ?? '?'}` });

/** The oracle: what the client must receive for `event` taken in `before`, ending in `after`. */
function expectation(before: Snapshot, event: ModelEvent, after: Snapshot): Expectation {
  const { context } = before;
  switch (event.type) {
    case 'xstate.done.actor.checkName':
      return { reply: (m) => m.type === 'lobby' && m.name === event.output, what: `lobby as ${event.output}` };
    case 'xstate.error.actor.checkName':
      return { reply: isError('name-taken'), what: 'error name-taken' };
    case 'xstate.done.actor.saveRounds':
      return { reply: (m) => m.type === 'leaderboard' && m.leaderboard.some((e) => e.name === OPPONENT && e.wins >= 1), what: 'the saved leaderboard' };
    case 'leave':
      return { close: { code: 4000, reason: 'left' } };
    default:
  }
  if (!before.can(event)) {
    const state = stateName(before.value);
    return { reply: (m) => m.type === 'error' && m.error === 'unexpected' && 'event' in m && m.event === event.type && 'state' in m && m.state === state, what: `unexpected ${event.type} in ${state}` };
  }
  switch (event.type) {
    case 'name':
      return after.matches('checkingName') ? { none: true } : errorReply(nameProblem(event.name));
    case 'join':
      if (!after.matches('room')) return errorReply(roomIdProblem(event.room) ?? modelWorld.joinProblem(event.room));
      return { reply: (m) => m.type === 'room' && m.room === event.room && m.players.includes(context.name), what: `room ${event.room}` };
    case 'say':
      if (textProblem(event.text) !== null) return errorReply(textProblem(event.text));
      return { reply: (m) => m.type === 'said' && m.from === context.name && m.text === event.text, what: 'said' };
    case 'choose':
      if (!after.matches({ room: 'saving' })) return errorReply(modelWorld.chooseProblem(context.room ?? '', 0, event.hand));
      // paper (pat) beats rock.
      return { reply: (m) => m.type === 'round' && m.winner === OPPONENT, what: 'the round, won by pat' };
    case 'exit':
      return { reply: (m) => m.type === 'lobby' && m.name === context.name, what: 'back in the lobby' };
  }
}

/** The two slow lookups wait at this gate while a path runs; the test opens it step by step. */
class Gate {
  holding = false;
  readonly #waiting: { job: LobbyJob; open: () => void }[] = [];

  readonly latency = (job: LobbyJob): Promise<void> => {
    if (!this.holding) return Promise.resolve();
    return new Promise((open) => this.#waiting.push({ job, open }));
  };

  async open(job: LobbyJob): Promise<void> {
    await until(() => this.#waiting.some((w) => w.job === job), `a ${job} call`);
    const at = this.#waiting.findIndex((w) => w.job === job);
    this.#waiting.splice(at, 1)[0]?.open();
  }

  openAll(): void {
    this.holding = false;
    for (const waiting of this.#waiting.splice(0)) waiting.open();
  }
}

interface World {
  readonly lobby: RunningLobby;
  readonly gate: Gate;
  readonly clients: LobbyClient[];
}

let world: World | null = null;

afterEach(async () => {
  if (world === null) return;
  world.gate.openAll();
  for (const client of world.clients) client.close();
  await world.lobby.stop();
  world = null;
});

/** A fresh server with the fixture: pat waiting in "duel" (and always choosing paper first), fay and gus in "full". */
async function fixture(): Promise<World> {
  const gate = new Gate();
  const lobby = await startLobby({ port: 0, host: '127.0.0.1', app: new LobbyApp({ latency: gate.latency }) });
  const url = `ws://127.0.0.1:${lobby.port}/play`;
  const clients: LobbyClient[] = [];
  world = { lobby, gate, clients };
  const seat = async (name: string, room: string, onMessage?: (m: ServerMessage, c: LobbyClient) => void): Promise<void> => {
    const client = await LobbyClient.connect(url, onMessage);
    clients.push(client);
    client.send({ type: 'name', name });
    await client.expect((m) => m.type === 'lobby', `${name} in the lobby`);
    client.send({ type: 'join', room });
    await client.expect((m) => m.type === 'room' && m.players.includes(name), `${name} in ${room}`);
  };
  await seat(OPPONENT, 'duel', (m, pat) => {
    if (m.type === 'room' && m.players.length === 2 && !m.chosen.includes(OPPONENT)) pat.send({ type: 'choose', hand: 'paper' });
  });
  await seat('fay', 'full');
  await seat('gus', 'full');
  gate.holding = true;
  return world;
}

const paths = modelPaths();

describe('lobby player machine: every path of the model, over real sockets', () => {
  it('the model has a bounded number of paths, covering every state of the machine', () => {
    const reached = new Set(paths.flatMap((path) => path.steps.map((s) => stateName(s.state.value))));
    expect([...reached].sort()).toEqual(['checkingName', 'left', 'lobby', 'naming', 'room.playing', 'room.saving']);
    expect(paths.length).toBeGreaterThan(40);
    expect(paths.length).toBeLessThan(150);
  });

  it.each(paths.map((path) => [stepsOf(path).map((s) => describeEvent(s.event)).join(' → '), path] as const))('%s', async (_name, path) => {
    const { lobby, gate, clients } = await fixture();
    const before = new Set(lobby.server.endpoint.getLocalClients());
    const transitions: { id: number; to: string }[] = [];
    const unsubscribe = lobby.server.lifecycle.subscribe((e) => {
      if (e.kind === 'client-machine') transitions.push({ id: e.clientId, to: e.to });
    });
    const player = await LobbyClient.connect(`ws://127.0.0.1:${lobby.port}/play`);
    clients.push(player);
    await until(() => lobby.server.endpoint.getLocalClients().length > before.size, 'the player to open');
    const id = lobby.server.endpoint.getLocalClients().find((c) => !before.has(c)) as number;
    const machineState = (): string | null | undefined => lobby.server.endpoint.getLocalInfo(id)?.machine_state;
    await until(() => machineState() === 'naming', 'the player machine to start');
    const modelStates = ['naming'];

    const steps = stepsOf(path);
    let sentEarly = false;
    for (const [i, { before: stateBefore, event, after: stateAfter }] of steps.entries()) {
      const expected = expectation(stateBefore, event, stateAfter);
      const what = `step ${i + 1} (${describeEvent(event)} in ${stateName(stateBefore.value)})`;
      const job: LobbyJob | null = event.type.startsWith('xstate.done.actor.checkName') || event.type.startsWith('xstate.error.actor.checkName') ? 'check-name' : event.type === 'xstate.done.actor.saveRounds' ? 'save-score' : null;
      if (job !== null) {
        // The machine is busy until the lookup answers: the client's next message, sent now, must wait (M3).
        const following = steps[i + 1];
        if (following !== undefined && isClientEvent(following.event) && !following.after.matches({ room: 'saving' })) {
          player.send(following.event);
          sentEarly = true;
          await sleep(15);
          expect(machineState(), `still busy before ${what}`).toBe(stateName(stateBefore.value));
          expect(player.unexpected(), `no answer while busy, before ${what}`).toEqual([]);
        }
        await gate.open(job);
      } else if (sentEarly) {
        sentEarly = false;
      } else {
        // pat plays first: wait until the server says so before the player's hand decides the round.
        if (stateAfter.matches({ room: 'saving' })) await until(() => player.lastRoom?.chosen.includes(OPPONENT) === true, `${OPPONENT} to choose`);
        player.send(event);
      }
      const next = stateName(stateAfter.value);
      if (next !== modelStates.at(-1)) modelStates.push(next);
      if ('close' in expected) {
        expect(await player.closedWithin(), what).toEqual(expected.close);
        continue;
      }
      if ('reply' in expected) await player.expect(expected.reply, `${expected.what} after ${what}`);
      else await until(() => machineState() === next, `${next} after ${what}`);
      // Another step's message already sent may have moved it on; check this one's state through the lifecycle then.
      if (!sentEarly) expect(machineState(), what).toBe(next);
    }
    unsubscribe();
    const reported = transitions.filter((t) => t.id === id).map((t) => t.to);
    expect(reported, 'the transitions server.lifecycle reported').toEqual(modelStates);
    expect(player.unexpected(), 'messages nobody expected').toEqual([]);
  });
});

function isClientEvent(event: ModelEvent): event is ClientEvent {
  return !event.type.startsWith('xstate.');
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function describeEvent(event: ModelEvent): string {
  switch (event.type) {
    case 'name':
      return `name ${JSON.stringify(event.name)}`;
    case 'join':
      return `join ${JSON.stringify(event.room)}`;
    case 'say':
      return `say ${JSON.stringify(event.text)}`;
    case 'choose':
      return `choose ${event.hand}`;
    case 'xstate.done.actor.checkName':
      return '(name free)';
    case 'xstate.error.actor.checkName':
      return '(name taken)';
    case 'xstate.done.actor.saveRounds':
      return '(score saved)';
    default:
      return event.type;
  }
}
