/**
 * checkApp on apps with a per-client machine: messages derived from the machine itself
 * (`fromMachine`: its event types with payloads, and paths to its states via xstate/graph),
 * each client's machine checked against the machine's own transitions, and the C3/C4 order
 * and delivery checks restated for machines (events taken or counted in messages_rejected).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { setImmediate as tick } from 'node:timers/promises';
import { LobbyApp } from '../../examples/lobby/app.js';
import { AppCheckError, checkApp, fromMachine } from '../../src/testing/index.js';
import { clientEventTypes, machineArbitraries } from '../../src/testing/machine.js';
import { runScenario } from '../../src/testing/run.js';
import { checkRun } from '../../src/testing/checks.js';
import { chatterApp, impureGuardApp } from './machine-apps.js';

const lobbyPayloads = {
  name: fc.record({ name: fc.constantFrom('ada', 'bob', 'pat', '<b>', '') }),
  join: fc.record({ room: fc.constantFrom('duel', 'duel', 'no room!') }),
  say: fc.record({ text: fc.constantFrom('hi', '') }),
  choose: fc.record({ hand: fc.constantFrom('rock', 'paper', 'lizard') }),
};
const fastLobby = (): LobbyApp => new LobbyApp({ latency: () => tick() });

describe('fromMachine', () => {
  it('derives the event types a client can send, and paths to every state of the lobby', () => {
    const app = fastLobby();
    expect(clientEventTypes(app.clientMachine.machine)).toEqual(['choose', 'exit', 'join', 'leave', 'name', 'say']);
    const derived = machineArbitraries(fc, app.clientMachine, fromMachine({ payloads: lobbyPayloads }));
    expect(new Set(derived.pathTargets)).toEqual(new Set(['checkingName', 'lobby', 'room.playing', 'left']));
    const [path] = fc.sample(derived.paths as fc.Arbitrary<readonly string[]>, { numRuns: 1, seed: 3 });
    expect(path?.every((m) => typeof m === 'string' && JSON.parse(m) !== null)).toBe(true);
  });

  it('refuses payloads for an event the machine does not accept', () => {
    expect(() => machineArbitraries(fc, fastLobby().clientMachine, fromMachine({ payloads: { shout: fc.constant({}) } }))).toThrow(
      /payloads for shout, which the machine does not accept \(it accepts choose, exit, join, leave, name, say\)/,
    );
  });
});

describe('checkApp with a client machine', () => {
  it('the lobby example keeps the contract, its machines follow their own transitions', async () => {
    const reached = new Set<string>();
    const report = await checkApp({
      app: fastLobby,
      messages: fromMachine({ payloads: lobbyPayloads }),
      numRuns: 100,
      maxClients: 2,
      invariants: {
        'states reached': ({ machineSteps }) => void machineSteps.forEach((step) => reached.add(step.from).add(step.actual ?? '?')),
      },
    });
    expect(report.runs).toBe(100);
    // Every state one player reaches alone (room.saving needs two players: the fixed scenario below).
    expect([...reached].filter((state) => state !== 'room.saving').sort()).toEqual(['checkingName', 'left', 'lobby', 'naming', 'room.playing']);
  }, 30_000);

  it('two players through every lobby state, busy ones included, on a fixed scenario', async () => {
    const delays = { onHandshake: 0, onOpen: 0, onClose: 0 };
    const send = (client: number, message: object) => ({ kind: 'send' as const, client, message: JSON.stringify(message), onDataDelay: 0 });
    const run = await runScenario(fastLobby, {}, {
      steps: [
        { kind: 'connect', client: 1, plan: {}, delays },
        { kind: 'connect', client: 2, plan: {}, delays },
        send(1, { type: 'name', name: 'ada' }),
        send(2, { type: 'name', name: 'bob' }),
        send(1, { type: 'join', room: 'duel' }),
        { kind: 'wait', ms: 30 },
        send(2, { type: 'join', room: 'duel' }),
        { kind: 'wait', ms: 30 },
        send(1, { type: 'choose', hand: 'rock' }),
        { kind: 'wait', ms: 30 },
        send(2, { type: 'choose', hand: 'paper' }),
        send(2, { type: 'say', text: 'gg' }),
        send(2, { type: 'choose', hand: 'lizard' }),
        { kind: 'close', client: 2, code: 4100, reason: '' },
        send(1, { type: 'leave' }),
        { kind: 'wait', ms: 30 },
      ],
      onStartDelay: 0,
      onStopDelay: 0,
    });
    expect(checkRun(run, { allowHookError: () => false, allowDetachedWork: false })).toEqual([]);
    const moves = run.machineSteps.map((step) => `${run.connectionOf(step.clientId)?.label ?? "?"}: ${step.event.type} ${step.from} -> ${step.actual} (expected ${step.expected}, reported ${step.reported})`);
    expect(moves, moves.join('\n')).toContain('2: choose room.playing -> room.saving (expected room.saving, reported room.saving)');
    expect(moves).toContain('1: leave room.playing -> left (expected left, reported left)');
    // Client 2's messages after its choose waited out the busy state, then all arrived (C4): say, then the refused choose.
    expect(moves.filter((m) => m.startsWith('2:')).slice(-2)).toEqual([
      '2: say room.playing -> room.playing (expected room.playing, reported room.playing)',
      '2: choose room.playing -> room.playing (expected room.playing, reported room.playing)',
    ]);
  });

  it('the README chatter machine keeps the contract, every state reached', async () => {
    const reached = new Set<string>();
    const report = await checkApp({
      invariants: { 'states reached': ({ machineSteps }) => void machineSteps.forEach((step) => reached.add(step.from).add(step.actual ?? '?')) },
      app: chatterApp,
      messages: fromMachine({ payloads: { login: fc.record({ name: fc.constantFrom('ada', 'bob') }), say: fc.record({ text: fc.string({ maxLength: 4 }) }) } }),
      numRuns: 60,
    });
    expect(report.runs).toBe(60);
    expect([...reached].sort()).toEqual(['anonymous', 'gone', 'member']);
  }, 30_000);
});

describe('checkApp catches a machine that does not follow its own transitions', () => {
  it('a guard with a side effect: the report names the event, the state, where it went and where the machine says', async () => {
    const error = await checkApp({ app: impureGuardApp, messages: fromMachine({ payloads: { login: fc.record({ name: fc.constant('ada') }) } }), sessions: true, numRuns: 100, shrinkTimeMs: 3000 }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AppCheckError);
    const report = error as AppCheckError;
    expect(report.message).toMatch(
      /\[machine\] client ([\d#]+): the machine of client \1 took \{"name":"ada","type":"login"\} in state anonymous and went to (anonymous|member), but the machine's own transition from that snapshot goes to (member|anonymous)/,
    );
    expect(report.message).toMatch(/\n {2}\d+\. client \d+ sends \{"name":"ada","type":"login"\}/);
    // The trace shows each event the machine took.
    expect(report.message).toMatch(/client [\d#]+: machine: \{"name":"ada","type":"login"\} \((stays in anonymous|anonymous -> member)\)/);
  }, 20_000);
});
