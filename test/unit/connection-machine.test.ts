/**
 * Model-based tests of the connection and supervisor machines. Paths come from `xstate/graph`
 * (every simple path through the connection machine with representative payloads); each path is
 * replayed on a real actor while its emitted commands are recorded, and the invariants the
 * runtime relies on are checked on every path.
 */
import { describe, expect, it } from 'vitest';
import { createActor, fromPromise, type SnapshotFrom, type StateValue } from 'xstate';
import { getShortestPaths, getSimplePaths, getStateNodes } from 'xstate/graph';
import { closeCodeFor, CloseCode, type CloseCause } from '../../src/close-codes.js';
import {
  connectionMachine,
  dropsPending,
  serverInitiated,
  type ConnectionCommand,
  type ConnectionEvent,
} from '../../src/machines/connection.js';
import { supervisorMachine } from '../../src/machines/supervisor.js';
import { createActorRoot, createChildActor } from '../../src/runtime/actor-root.js';
import { LIFECYCLE_STATES, STATE_OF_COMMAND } from '../../src/runtime/lifecycle-events.js';

type ConnSnapshot = SnapshotFrom<typeof connectionMachine>;

/** One cause of every kind; peer twice (a normal close and one without a status code). */
const CAUSES: readonly CloseCause[] = [
  { kind: 'peer', code: 1000, reason: 'bye' },
  { kind: 'peer', code: CloseCode.NO_STATUS, reason: '' },
  { kind: 'app', code: 4000, reason: 'kicked' },
  { kind: 'dropped' },
  { kind: 'server-stop' },
  { kind: 'hook-failed', hook: 'onData' },
  { kind: 'protocol', code: CloseCode.MESSAGE_TOO_BIG, reason: 'Max payload size exceeded' },
  { kind: 'limit', code: CloseCode.POLICY_VIOLATION, reason: 'unanswered ping limit' },
];

const REJECT_STATUSES = [403, 500, 503] as const;

const EVENTS: readonly ConnectionEvent[] = [
  { type: 'conn.handshake.accepted' },
  ...REJECT_STATUSES.map((status) => ({ type: 'conn.handshake.rejected' as const, status })),
  { type: 'conn.upgraded' },
  { type: 'conn.opened' },
  ...CAUSES.map((cause) => ({ type: 'conn.close.begin' as const, cause })),
  { type: 'conn.drained' },
  { type: 'conn.socket.gone' },
  { type: 'conn.closed' },
];

const LEAF_STATES = [
  'handshaking.deciding',
  'handshaking.upgrading',
  'open.opening',
  'open.ready',
  'closing.draining',
  'closing.notifying',
  'closed',
] as const;

/** `{ handshaking: 'deciding' }` -> `handshaking.deciding`. */
function leaf(value: StateValue): string {
  if (typeof value === 'string') return value;
  const entries = Object.entries(value);
  expect(entries).toHaveLength(1);
  const [key, child] = entries[0] as [string, StateValue];
  return `${key}.${leaf(child)}`;
}

const traversal = { input: { clientId: 7 }, events: () => EVENTS };
/**
 * 48 today (7 cause kinds). Simple-path enumeration is exponential in the graph's size, so a
 * machine change that blows the graph up fails the size test below instead of hanging the run.
 */
const MAX_VERTICES = 80;
/** One shortest path per reachable (state, context) vertex. */
const shortestPaths = getShortestPaths(connectionMachine, traversal);
const vertexCount = shortestPaths.length;
const simplePaths = vertexCount <= MAX_VERTICES ? getSimplePaths(connectionMachine, traversal) : [];

interface Replay {
  commands: ConnectionCommand[];
  states: string[];
  snapshot: ConnSnapshot;
  actor: ReturnType<typeof createActor<typeof connectionMachine>>;
}

/** Replays a graph path on a real actor, checking each step lands where the model said. */
function replay(steps: readonly { event: ConnectionEvent | { type: 'xstate.init' }; state: ConnSnapshot }[]): Replay {
  const actor = createActor(connectionMachine, { input: { clientId: 7 } });
  const commands: ConnectionCommand[] = [];
  actor.on('*', (command) => commands.push(command));
  actor.start();
  const states: string[] = [];
  for (const step of steps) {
    if (step.event.type !== 'xstate.init') actor.send(step.event);
    const snapshot = actor.getSnapshot();
    expect(snapshot.value).toEqual(step.state.value);
    expect(snapshot.context).toEqual(step.state.context);
    states.push(leaf(snapshot.value));
  }
  return { commands, states, snapshot: actor.getSnapshot(), actor };
}

/** Drives an actor from wherever it is to its final state the way the runtime would. */
function finish(run: Replay): void {
  const { actor } = run;
  const current = (): string => leaf(actor.getSnapshot().value);
  if (current().startsWith('handshaking')) actor.send({ type: 'conn.socket.gone' });
  if (current().startsWith('open')) actor.send({ type: 'conn.close.begin', cause: { kind: 'server-stop' } });
  if (current().startsWith('closing')) {
    actor.send({ type: 'conn.socket.gone' });
    actor.send({ type: 'conn.drained' });
    actor.send({ type: 'conn.closed' });
  }
  run.snapshot = actor.getSnapshot();
}

function count(commands: readonly ConnectionCommand[], type: ConnectionCommand['type']): number {
  return commands.filter((command) => command.type === type).length;
}

function causeOf(steps: readonly { event: { type: string } }[]): CloseCause | undefined {
  const begin = steps.find((step) => step.event.type === 'conn.close.begin');
  return (begin?.event as Extract<ConnectionEvent, { type: 'conn.close.begin' }> | undefined)?.cause;
}

describe('connectionMachine (model-based)', () => {
  it('the graph reaches every leaf state of the machine, and nothing else', () => {
    const fromMachine = getStateNodes(connectionMachine.root)
      .filter((node) => node.type === 'atomic' || node.type === 'final')
      .map((node) => node.path.join('.'))
      .sort();
    expect(fromMachine).toEqual([...LEAF_STATES].sort());

    const covered = new Set(simplePaths.flatMap((path) => path.steps.map((step) => leaf(step.state.value))));
    expect([...covered].sort()).toEqual([...LEAF_STATES].sort());
    const shortest = new Set(shortestPaths.map((path) => leaf(path.state.value)));
    expect([...shortest].sort()).toEqual([...LEAF_STATES].sort());
  });

  it('the lifecycle stream names exactly the machine leaf states, each reported by one command', () => {
    const named = Object.values(STATE_OF_COMMAND).sort();
    expect(named).toEqual([...LIFECYCLE_STATES].sort());
    // The stream says "handshaking" for handshaking.deciding (where onHandshake runs).
    expect(named.map((state) => (state === 'handshaking' ? 'handshaking.deciding' : state)).sort()).toEqual([...LEAF_STATES].sort());
  });

  it('keeps the state graph small enough to enumerate every simple path', () => {
    expect(vertexCount).toBeGreaterThan(LEAF_STATES.length);
    expect(vertexCount).toBeLessThanOrEqual(MAX_VERTICES);
  });

  it('has the expected shortest distances to the key states', () => {
    const shortestTo = (state: string): number =>
      Math.min(...shortestPaths.filter((path) => leaf(path.state.value) === state).map((path) => path.weight));
    expect(shortestTo('handshaking.deciding')).toBe(0);
    expect(shortestTo('open.opening')).toBe(2);
    expect(shortestTo('open.ready')).toBe(3);
    expect(shortestTo('closing.draining')).toBe(3);
    // draining -> notifying needs both conn.socket.gone and conn.drained.
    expect(shortestTo('closing.notifying')).toBe(5);
    expect(shortestTo('closed')).toBe(1);
  });

  it('enumerates a meaningful number of paths (every cause, status and ordering)', () => {
    const toClosed = simplePaths.filter((path) => leaf(path.state.value) === 'closed');
    const opened = toClosed.filter((path) => path.steps.some((step) => leaf(step.state.value).startsWith('open')));
    // 2 (close from opening or ready) x every cause x 2 orders of socket.gone / drained.
    expect(opened).toHaveLength(2 * CAUSES.length * 2);
    // 2 handshaking states x (3 rejection statuses + socket gone).
    expect(toClosed.length - opened.length).toBe(2 * (REJECT_STATUSES.length + 1));
  });

  describe.each(simplePaths.map((path) => [path.steps.map((s) => s.event.type).join(' > '), path] as const))(
    'path %s',
    (_name, path) => {
      it('replays on a real actor and keeps every command invariant', () => {
        const run = replay(path.steps);
        const reachedOpen = run.states.some((state) => state.startsWith('open'));
        const reachedNotifying = run.states.includes('closing.notifying');
        const ended = run.states.at(-1) as string;

        // The machine always asks for onHandshake first, exactly once.
        expect(run.commands[0]).toEqual({ type: 'cmd.handshake', awaitsAnswer: true });
        expect(count(run.commands, 'cmd.handshake')).toBe(1);
        expect(count(run.commands, 'cmd.open')).toBe(reachedOpen ? 1 : 0);
        expect(count(run.commands, 'cmd.notifyClose')).toBe(reachedNotifying ? 1 : 0);
        if (!reachedOpen) expect(count(run.commands, 'cmd.close')).toBe(0);

        // Final only via notifying once opened; only from handshaking otherwise.
        if (ended === 'closed') {
          const before = run.states.at(-2) as string;
          if (reachedOpen) expect(before).toBe('closing.notifying');
          else expect(before.startsWith('handshaking')).toBe(true);
          expect(run.snapshot.status).toBe('done');
          expect(run.commands.at(-1)?.type).toBe('cmd.release');
          expect(count(run.commands, 'cmd.release')).toBe(1);
        } else {
          expect(run.snapshot.status).toBe('active');
          expect(count(run.commands, 'cmd.release')).toBe(0);
        }

        const cause = causeOf(path.steps);
        if (cause !== undefined) {
          const { code, reason } = closeCodeFor(cause);
          expect(run.snapshot.context.cause).toEqual(cause);
          expect(run.snapshot.context.closeCode).toBe(code);
          expect(run.snapshot.context.closeReason).toBe(reason);
          const closes = run.commands.filter((c) => c.type === 'cmd.close');
          const dropPending = cause.kind === 'app' || cause.kind === 'hook-failed';
          expect(closes).toEqual([{ type: 'cmd.close', cause, code, reason, dropPending, awaitsDrained: true, awaitsSocketGone: true }]);
          const notifies = run.commands.filter((c) => c.type === 'cmd.notifyClose');
          expect(notifies).toEqual(reachedNotifying ? [{ type: 'cmd.notifyClose', code, reason, awaitsClosed: true }] : []);
          // notifyClose only after both the socket is gone and messages drained.
          if (reachedNotifying) {
            expect(run.snapshot.context.socketGone).toBe(true);
            expect(run.snapshot.context.drained).toBe(true);
          }
        } else {
          expect(run.snapshot.context.cause).toBeNull();
          expect(run.snapshot.context.closeCode).toBeNull();
        }
      });

      it('driven to completion, emits notifyClose exactly once iff it opened', () => {
        const run = replay(path.steps);
        const reachedOpen = run.states.some((state) => state.startsWith('open'));
        const reachedReady = run.states.includes('open.ready');
        finish(run);
        expect(run.snapshot.status).toBe('done');
        expect(run.snapshot.value).toBe('closed');
        expect(count(run.commands, 'cmd.notifyClose')).toBe(reachedOpen ? 1 : 0);
        expect(count(run.commands, 'cmd.release')).toBe(1);
        const types = run.commands.map((c) => c.type);
        if (reachedOpen) {
          const ready = reachedReady ? ['cmd.ready'] : [];
          expect(types).toEqual(['cmd.handshake', 'cmd.upgrade', 'cmd.open', ...ready, 'cmd.close', 'cmd.notifyClose', 'cmd.release']);
          expect(run.commands.at(-1)).toEqual({ type: 'cmd.release', outcome: 'closed' });
          expect(run.snapshot.context.outcome).toBe('closed');
        } else {
          expect(types).not.toContain('cmd.open');
          expect(types).not.toContain('cmd.close');
          expect(types).not.toContain('cmd.notifyClose');
          const outcome = run.snapshot.context.outcome;
          expect(outcome === 'rejected' || outcome === 'aborted').toBe(true);
          expect(run.commands.at(-1)).toEqual({ type: 'cmd.release', outcome });
        }
      });
    },
  );

  describe('rejected and aborted handshakes', () => {
    const handshakeEnds = simplePaths.filter(
      (path) => leaf(path.state.value) === 'closed' && path.steps.every((step) => !leaf(step.state.value).startsWith('open')),
    );

    it('are enumerated from both handshaking states', () => {
      const froms = new Set(handshakeEnds.map((path) => leaf((path.steps.at(-2) as (typeof path.steps)[number]).state.value)));
      expect([...froms].sort()).toEqual(['handshaking.deciding', 'handshaking.upgrading']);
    });

    it.each(handshakeEnds.map((path) => [path.steps.map((s) => JSON.stringify(s.event)).join(' > '), path] as const))(
      '%s: no cmd.open / cmd.close / cmd.notifyClose, outcome recorded',
      (_name, path) => {
        const run = replay(path.steps);
        const last = path.steps.at(-1)?.event as ConnectionEvent;
        expect(count(run.commands, 'cmd.open')).toBe(0);
        expect(count(run.commands, 'cmd.close')).toBe(0);
        expect(count(run.commands, 'cmd.notifyClose')).toBe(0);
        if (last.type === 'conn.handshake.rejected') {
          expect(run.commands.filter((c) => c.type === 'cmd.reject')).toEqual([{ type: 'cmd.reject', status: last.status }]);
          expect(run.snapshot.context.rejectStatus).toBe(last.status);
          expect(run.snapshot.context.outcome).toBe('rejected');
          expect(run.commands.at(-1)).toEqual({ type: 'cmd.release', outcome: 'rejected' });
        } else {
          expect(last.type).toBe('conn.socket.gone');
          expect(count(run.commands, 'cmd.reject')).toBe(0);
          expect(run.snapshot.context.rejectStatus).toBeNull();
          expect(run.snapshot.context.outcome).toBe('aborted');
          expect(run.commands.at(-1)).toEqual({ type: 'cmd.release', outcome: 'aborted' });
        }
      },
    );
  });

  describe('first close cause wins', () => {
    const closingPaths = simplePaths.filter((path) => leaf(path.state.value).startsWith('closing'));

    it('has closing paths for every cause', () => {
      const kinds = new Set(closingPaths.map((path) => causeOf(path.steps)?.kind));
      expect([...kinds].sort()).toEqual(['app', 'dropped', 'hook-failed', 'limit', 'peer', 'protocol', 'server-stop']);
    });

    it.each(closingPaths.map((path) => [path.steps.map((s) => s.event.type).join(' > '), path] as const))(
      'a second conn.close.begin is ignored after %s',
      (_name, path) => {
        const run = replay(path.steps);
        const first = causeOf(path.steps) as CloseCause;
        const before = run.actor.getSnapshot();
        const emittedBefore = run.commands.length;
        for (const second of CAUSES) {
          if (second === first) continue;
          run.actor.send({ type: 'conn.close.begin', cause: second });
        }
        const after = run.actor.getSnapshot();
        expect(after.value).toEqual(before.value);
        expect(after.context).toEqual(before.context);
        expect(after.context.cause).toEqual(first);
        expect(run.commands).toHaveLength(emittedBefore);
        finish(run);
        const notify = run.commands.filter((c) => c.type === 'cmd.notifyClose');
        expect(notify).toEqual([{ type: 'cmd.notifyClose', ...closeCodeFor(first), awaitsClosed: true }]);
      },
    );
  });

  describe('policies the machine owns (the runtime only reports facts)', () => {
    const YIELDING = CAUSES.filter((cause) => cause.kind !== 'peer' && cause.kind !== 'dropped' && cause.kind !== 'protocol');
    const KEPT = CAUSES.filter((cause) => !(YIELDING as readonly CloseCause[]).includes(cause));

    function openActor(ready: boolean): { actor: ReturnType<typeof createActor<typeof connectionMachine>>; commands: ConnectionCommand[] } {
      const actor = createActor(connectionMachine, { input: { clientId: 3 } });
      const commands: ConnectionCommand[] = [];
      actor.on('*', (c) => commands.push(c));
      actor.start();
      actor.send({ type: 'conn.handshake.accepted' });
      actor.send({ type: 'conn.upgraded' });
      if (ready) actor.send({ type: 'conn.opened' });
      commands.length = 0;
      return { actor, commands };
    }

    it.each(YIELDING.flatMap((cause) => [true, false].map((ready) => [cause.kind, ready, cause] as const)))(
      'a %s close yields to a peer close frame that already arrived (ready: %s)',
      (_kind, ready, cause) => {
        const { actor, commands } = openActor(ready);
        const before = actor.getSnapshot();
        actor.send({ type: 'conn.close.begin', cause, peerClosing: true });
        expect(actor.getSnapshot().value).toEqual(before.value);
        expect(actor.getSnapshot().context).toEqual(before.context);
        expect(commands).toEqual([]);
      },
    );

    it.each(KEPT.map((cause) => [cause.kind, cause] as const))('a %s close is taken even while the peer is closing', (_kind, cause) => {
      const { actor, commands } = openActor(true);
      actor.send({ type: 'conn.close.begin', cause, peerClosing: true });
      expect(leaf(actor.getSnapshot().value)).toBe('closing.draining');
      expect(commands.map((c) => c.type)).toEqual(['cmd.close']);
    });

    it.each([true, false])('a failed hook closes with 1011 and drops what waits (ready: %s)', (ready) => {
      const { actor, commands } = openActor(ready);
      actor.send({ type: 'conn.hook.failed', hook: 'onData' });
      const cause: CloseCause = { kind: 'hook-failed', hook: 'onData' };
      expect(leaf(actor.getSnapshot().value)).toBe('closing.draining');
      expect(commands).toEqual([
        { type: 'cmd.close', cause, ...closeCodeFor(cause), dropPending: true, awaitsDrained: true, awaitsSocketGone: true },
      ]);
    });

    it('a failed hook while the peer is closing only halts delivery; the peer close follows', () => {
      const { actor, commands } = openActor(true);
      actor.send({ type: 'conn.hook.failed', hook: 'onData', peerClosing: true });
      expect(leaf(actor.getSnapshot().value)).toBe('open.ready');
      expect(commands).toEqual([{ type: 'cmd.halt' }]);
      actor.send({ type: 'conn.close.begin', cause: { kind: 'peer', code: 1000, reason: '' }, socketGone: true });
      expect(actor.getSnapshot().context.closeCode).toBe(1000);
    });

    it('a failed hook after the close began halts delivery and keeps the first cause', () => {
      const { actor, commands } = openActor(true);
      actor.send({ type: 'conn.close.begin', cause: { kind: 'server-stop' } });
      commands.length = 0;
      actor.send({ type: 'conn.hook.failed', hook: 'onData' });
      expect(commands).toEqual([{ type: 'cmd.halt' }]);
      expect(actor.getSnapshot().context.cause).toEqual({ kind: 'server-stop' });
    });

    it('the awaits* fields follow settlesAtOnce and what the close already carried', () => {
      const actor = createActor(connectionMachine, { input: { clientId: 4, settlesAtOnce: { accept: true, open: true, close: true } } });
      const commands: ConnectionCommand[] = [];
      actor.on('*', (c) => commands.push(c));
      actor.start();
      actor.send({ type: 'conn.upgraded' });
      actor.send({ type: 'conn.close.begin', cause: { kind: 'dropped' }, socketGone: true, drained: true });
      expect(commands).toEqual([
        { type: 'cmd.handshake', awaitsAnswer: false },
        { type: 'cmd.upgrade' },
        { type: 'cmd.open', awaitsOpened: false },
        { type: 'cmd.ready' },
        { type: 'cmd.close', cause: { kind: 'dropped' }, ...closeCodeFor({ kind: 'dropped' }), dropPending: false, awaitsDrained: false, awaitsSocketGone: false },
        { type: 'cmd.notifyClose', ...closeCodeFor({ kind: 'dropped' }), awaitsClosed: false },
        { type: 'cmd.release', outcome: 'closed' },
      ]);
      expect(actor.getSnapshot().status).toBe('done');
    });
  });

  it('conn.closed before the socket is gone and messages drained does not finish the connection', () => {
    const actor = createActor(connectionMachine, { input: { clientId: 1 } });
    const commands: ConnectionCommand[] = [];
    actor.on('*', (c) => commands.push(c));
    actor.start();
    actor.send({ type: 'conn.handshake.accepted' });
    actor.send({ type: 'conn.upgraded' });
    actor.send({ type: 'conn.opened' });
    actor.send({ type: 'conn.close.begin', cause: { kind: 'server-stop' } });
    actor.send({ type: 'conn.closed' });
    expect(leaf(actor.getSnapshot().value)).toBe('closing.draining');
    actor.send({ type: 'conn.socket.gone' });
    actor.send({ type: 'conn.closed' });
    expect(leaf(actor.getSnapshot().value)).toBe('closing.draining');
    expect(count(commands, 'cmd.notifyClose')).toBe(0);
    actor.send({ type: 'conn.drained' });
    expect(leaf(actor.getSnapshot().value)).toBe('closing.notifying');
    actor.send({ type: 'conn.closed' });
    expect(actor.getSnapshot().status).toBe('done');
    expect(count(commands, 'cmd.notifyClose')).toBe(1);
  });

  describe('cause helpers', () => {
    it.each(CAUSES.map((cause) => [cause.kind, cause] as const))('dropPending for %s', (kind, cause) => {
      expect(dropsPending(cause)).toBe(kind === 'app' || kind === 'hook-failed');
      expect(serverInitiated(cause)).toBe(kind !== 'peer' && kind !== 'dropped');
    });

    it('maps fixed-code causes to their codes', () => {
      expect(closeCodeFor({ kind: 'dropped' })).toEqual({ code: 1006, reason: '' });
      expect(closeCodeFor({ kind: 'server-stop' })).toEqual({ code: 1001, reason: 'Server shutting down' });
      expect(closeCodeFor({ kind: 'hook-failed', hook: 'onOpen' })).toEqual({
        code: 1011,
        reason: 'Internal server error, aborting',
      });
      expect(closeCodeFor({ kind: 'app', code: 4321, reason: 'r' })).toEqual({ code: 4321, reason: 'r' });
    });
  });
});

/** A promise with its resolve/reject exposed. */
function deferred(): { promise: Promise<void>; resolve: () => void; reject: (error: unknown) => void } {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function supervisorWith(start: () => Promise<void>, stop: () => Promise<void>) {
  const actor = createActor(
    supervisorMachine.provide({ actors: { start: fromPromise(start), stop: fromPromise(stop) } }),
  );
  const errors: unknown[] = [];
  actor.subscribe({ error: (error) => errors.push(error) });
  actor.start();
  return { actor, errors };
}

describe('supervisorMachine', () => {
  it('idle -> starting -> running -> stopping -> stopped, start before stop', async () => {
    const calls: string[] = [];
    const started = deferred();
    const stopped = deferred();
    const { actor, errors } = supervisorWith(
      () => {
        calls.push('start');
        return started.promise;
      },
      () => {
        calls.push('stop');
        return stopped.promise;
      },
    );
    expect(actor.getSnapshot().value).toBe('idle');
    actor.send({ type: 'server.start' });
    expect(actor.getSnapshot().value).toBe('starting');
    // A stop request while starting is not taken: stop work never runs before start settled.
    actor.send({ type: 'server.stop' });
    await tick();
    expect(actor.getSnapshot().value).toBe('starting');
    expect(calls).toEqual(['start']);
    started.resolve();
    await tick();
    expect(actor.getSnapshot().value).toBe('running');
    actor.send({ type: 'server.stop' });
    expect(actor.getSnapshot().value).toBe('stopping');
    actor.send({ type: 'server.stop' });
    actor.send({ type: 'server.start' });
    stopped.resolve();
    await tick();
    expect(actor.getSnapshot().value).toBe('stopped');
    expect(actor.getSnapshot().status).toBe('done');
    expect(actor.getSnapshot().context.error).toBeNull();
    expect(calls).toEqual(['start', 'stop']);
    expect(errors).toEqual([]);
  });

  it('starting -> failed keeps the error in context', async () => {
    const boom = new Error('listen EADDRINUSE');
    let stops = 0;
    const { actor, errors } = supervisorWith(
      () => Promise.reject(boom),
      () => {
        stops++;
        return Promise.resolve();
      },
    );
    actor.send({ type: 'server.start' });
    await tick();
    const snapshot = actor.getSnapshot();
    expect(snapshot.value).toBe('failed');
    expect(snapshot.status).toBe('done');
    expect(snapshot.context.error).toBe(boom);
    expect(stops).toBe(0);
    // The failure is data, not an actor error.
    expect(errors).toEqual([]);
  });

  it('a failing stop still ends in stopped, with the error recorded', async () => {
    const boom = new Error('close failed');
    const { actor, errors } = supervisorWith(
      () => Promise.resolve(),
      () => Promise.reject(boom),
    );
    actor.send({ type: 'server.start' });
    await tick();
    actor.send({ type: 'server.stop' });
    await tick();
    expect(actor.getSnapshot().value).toBe('stopped');
    expect(actor.getSnapshot().context.error).toBe(boom);
    expect(errors).toEqual([]);
  });

  it('stop from idle goes straight to stopped without running start or stop', async () => {
    let calls = 0;
    const { actor } = supervisorWith(
      () => {
        calls++;
        return Promise.resolve();
      },
      () => {
        calls++;
        return Promise.resolve();
      },
    );
    actor.send({ type: 'server.stop' });
    await tick();
    expect(actor.getSnapshot().value).toBe('stopped');
    expect(actor.getSnapshot().status).toBe('done');
    expect(calls).toBe(0);
  });

  it('a real child actor that fails does not put the actor root (parent of every connection actor) into error', async () => {
    const root = createActorRoot(null);
    const failing = fromPromise<void>(() => Promise.reject(new Error('child boom')));
    const child = createChildActor(failing, root, undefined);
    child.subscribe({ error: () => undefined });
    child.start();
    await tick();
    expect(child.getSnapshot().status).toBe('error');
    expect((root.getSnapshot() as { status: string }).status).toBe('active');
    // A sibling still runs in the same system.
    const sibling = createChildActor(fromPromise<number>(() => Promise.resolve(7)), root, undefined);
    sibling.start();
    await tick();
    expect(sibling.getSnapshot().output).toBe(7);
    expect(sibling.system).toBe(root.system);
    root.stop();
  });
});
