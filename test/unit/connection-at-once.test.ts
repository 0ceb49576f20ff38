/**
 * The connection machine's "settles at once" paths: when the app has no onHandshake, onOpen or
 * onClose (and nobody inspects), the runtime starts the actor with `settlesAtOnce` and the
 * machine takes those steps without waiting for their events; `conn.close.begin` may carry
 * `socketGone` / `drained`. Same commands in the same order, fewer events and fewer XState
 * microsteps: without onHandshake the machine upgrades from `deciding` (no eventless step to
 * `upgrading`).
 * (test/unit/connection-machine.test.ts covers the machine with every flag off.)
 */
import { describe, expect, it } from 'vitest';
import { createActor, type StateValue } from 'xstate';
import { connectionMachine, type ConnectionCommand, type ConnectionEvent, type SettlesAtOnce } from '../../src/machines/connection.js';

const ALL: SettlesAtOnce = { accept: true, open: true, close: true };
const peerClose: ConnectionEvent = { type: 'conn.close.begin', cause: { kind: 'peer', code: 1000, reason: 'bye' } };

function leaf(value: StateValue): string {
  if (typeof value === 'string') return value;
  const [key, child] = Object.entries(value)[0] as [string, StateValue];
  return `${key}.${leaf(child)}`;
}

function start(settlesAtOnce: SettlesAtOnce) {
  const actor = createActor(connectionMachine, { input: { clientId: 1, settlesAtOnce } });
  const commands: ConnectionCommand['type'][] = [];
  actor.on('*', (command) => commands.push(command.type));
  actor.start();
  const state = (): string => leaf(actor.getSnapshot().value);
  return { actor, commands, state };
}

describe('connection machine, steps that settle at once', () => {
  it('without any hook: upgraded and one close.begin take a connection from start to closed', () => {
    const { actor, commands, state } = start(ALL);
    expect(state()).toBe('handshaking.deciding');
    expect(commands).toEqual(['cmd.handshake', 'cmd.upgrade']);
    actor.send({ type: 'conn.upgraded' });
    expect(state()).toBe('open.ready');
    actor.send({ ...peerClose, socketGone: true, drained: true });
    expect(actor.getSnapshot().status).toBe('done');
    expect(commands).toEqual(['cmd.handshake', 'cmd.upgrade', 'cmd.open', 'cmd.ready', 'cmd.close', 'cmd.notifyClose', 'cmd.release']);
    expect(actor.getSnapshot().context).toMatchObject({ outcome: 'closed', closeCode: 1000, closeReason: 'bye', socketGone: true, drained: true });
  });

  it('each flag skips only its own step', () => {
    const accept = start({ accept: true, open: false, close: false });
    expect(accept.state()).toBe('handshaking.deciding');
    expect(accept.commands).toEqual(['cmd.handshake', 'cmd.upgrade']);
    accept.actor.send({ type: 'conn.upgraded' });
    expect(accept.state()).toBe('open.opening');

    const open = start({ accept: false, open: true, close: false });
    expect(open.state()).toBe('handshaking.deciding');
    expect(open.commands).toEqual(['cmd.handshake']);
    // Not accepted at once: an upgrade before the answer is not one the machine takes.
    open.actor.send({ type: 'conn.upgraded' });
    expect(open.state()).toBe('handshaking.deciding');
    open.actor.send({ type: 'conn.handshake.accepted' });
    open.actor.send({ type: 'conn.upgraded' });
    expect(open.state()).toBe('open.ready');
    open.actor.send({ ...peerClose, socketGone: true, drained: true });
    expect(open.state()).toBe('closing.notifying');
    open.actor.send({ type: 'conn.closed' });
    expect(open.actor.getSnapshot().status).toBe('done');

    const close = start({ accept: false, open: false, close: true });
    close.actor.send({ type: 'conn.handshake.accepted' });
    close.actor.send({ type: 'conn.upgraded' });
    expect(close.state()).toBe('open.opening');
    close.actor.send({ type: 'conn.opened' });
    close.actor.send(peerClose);
    expect(close.state()).toBe('closing.draining');
    close.actor.send({ type: 'conn.drained' });
    close.actor.send({ type: 'conn.socket.gone' });
    expect(close.actor.getSnapshot().status).toBe('done');
    expect(close.commands.at(-1)).toBe('cmd.release');
  });

  it.each([
    ['socketGone', { socketGone: true }, { type: 'conn.drained' }],
    ['drained', { drained: true }, { type: 'conn.socket.gone' }],
  ] as const)('close.begin carrying only %s still waits for the other fact', (_name, carried, missing) => {
    const { actor, commands, state } = start(ALL);
    actor.send({ type: 'conn.upgraded' });
    actor.send({ ...peerClose, ...carried });
    expect(state()).toBe('closing.draining');
    expect(commands).not.toContain('cmd.notifyClose');
    actor.send(missing);
    expect(actor.getSnapshot().status).toBe('done');
  });

  it('a rejected or aborted handshake still ends without open or close commands', () => {
    const rejected = start({ accept: false, open: true, close: true });
    rejected.actor.send({ type: 'conn.handshake.rejected', status: 403 });
    expect(rejected.commands).toEqual(['cmd.handshake', 'cmd.reject', 'cmd.release']);

    const aborted = start(ALL);
    aborted.actor.send({ type: 'conn.socket.gone' });
    expect(aborted.commands).toEqual(['cmd.handshake', 'cmd.upgrade', 'cmd.release']);
    expect(aborted.actor.getSnapshot().context.outcome).toBe('aborted');
  });

  it('the first close cause still wins; a later close.begin changes nothing', () => {
    const { actor, commands } = start({ accept: true, open: true, close: false });
    actor.send({ type: 'conn.upgraded' });
    actor.send({ type: 'conn.close.begin', cause: { kind: 'server-stop' }, drained: true });
    actor.send({ ...peerClose, socketGone: true, drained: true });
    expect(actor.getSnapshot().context).toMatchObject({ closeCode: 1001, socketGone: false });
    expect(commands.filter((c) => c === 'cmd.close')).toHaveLength(1);
  });
});
