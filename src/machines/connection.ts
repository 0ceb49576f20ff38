/**
 * The lifecycle of one connection, as a pure machine: it decides which hook runs on which
 * transition and emits commands (`cmd.*`) that the runtime carries out. Data messages never
 * pass through it (see docs/lifecycle.md for why); the runtime reports what it needs.
 */
import { and, assign, emit, enqueueActions, setup } from 'xstate';
import type { CloseCause } from '../close-codes.js';
import { closeCodeFor } from '../close-codes.js';

export interface ConnectionInput {
  clientId: number;
  /** Hooks the runtime settles at once (see ConnectionContext.settlesAtOnce). */
  settlesAtOnce?: SettlesAtOnce;
}

/**
 * Steps the runtime would answer at once, with no hook to run: the app has no `onHandshake`
 * (accepted at once), no `onOpen` (opened at once) or no `onClose` (closed at once). The
 * machine then takes those transitions without waiting for the event, so a connection costs
 * fewer actor events. The runtime sets these only while nobody inspects the actors, so an
 * inspector still sees every state as a snapshot of its own.
 */
export interface SettlesAtOnce {
  accept: boolean;
  open: boolean;
  close: boolean;
}

const NOTHING_AT_ONCE: SettlesAtOnce = Object.freeze({ accept: false, open: false, close: false });

/** How a connection ended: after `onClose` (closed), or without ever opening. */
export type ConnectionOutcome = 'closed' | 'rejected' | 'aborted';

export interface ConnectionContext {
  clientId: number;
  cause: CloseCause | null;
  closeCode: number | null;
  closeReason: string;
  rejectStatus: number | null;
  socketGone: boolean;
  drained: boolean;
  outcome: ConnectionOutcome | null;
  settlesAtOnce: SettlesAtOnce;
}

/** Events the runtime sends; names are dotted and namespaced under `conn.`. */
export type ConnectionEvent =
  | { type: 'conn.handshake.accepted' }
  | { type: 'conn.handshake.rejected'; status: number }
  | { type: 'conn.upgraded' }
  | { type: 'conn.opened' }
  /**
   * `socketGone` / `drained`: already true as the close begins (the socket closed first; no
   * message waits or runs), so the runtime sends no separate event for them. `peerClosing`:
   * the peer's close frame already arrived (ws answered it); its close is then the one that
   * counts, and an app, server or limit close is ignored (ws reports the peer's on 'close').
   */
  | { type: 'conn.close.begin'; cause: CloseCause; socketGone?: boolean; drained?: boolean; peerClosing?: boolean }
  /** `onOpen`/`onData` threw or rejected (`peerClosing` as for `conn.close.begin`). */
  | { type: 'conn.hook.failed'; hook: string; peerClosing?: boolean }
  | { type: 'conn.drained' }
  | { type: 'conn.socket.gone' }
  | { type: 'conn.closed' }
  /** XState relays a child's (the client machine's) end; the runtime observes the child itself. */
  | { type: `xstate.error.actor.${string}`; error: unknown }
  | { type: `xstate.done.actor.${string}`; output: unknown };

/**
 * Commands the machine emits for the runtime. The `awaits*` fields say which event the
 * machine waits for next (false: it moved on by itself, see SettlesAtOnce), so the runtime
 * never re-derives a guard or reads the context back.
 */
export type ConnectionCommand =
  /** Run `onHandshake`; answer with `conn.handshake.accepted`/`rejected` if `awaitsAnswer`. */
  | { type: 'cmd.handshake'; awaitsAnswer: boolean }
  | { type: 'cmd.upgrade' }
  | { type: 'cmd.reject'; status: number }
  /** Run `onOpen`; report `conn.opened` when it settled if `awaitsOpened`. */
  | { type: 'cmd.open'; awaitsOpened: boolean }
  /** `onOpen` settled and no close began: messages flow; the connection may hibernate. */
  | { type: 'cmd.ready' }
  /** The close began: report `conn.drained` / `conn.socket.gone` when they happen if awaited. */
  | { type: 'cmd.close'; cause: CloseCause; code: number; reason: string; dropPending: boolean; awaitsDrained: boolean; awaitsSocketGone: boolean }
  /** A hook failed: no more `onData` (C4), whoever began the close. */
  | { type: 'cmd.halt' }
  /** Run `onClose`; report `conn.closed` when it settled if `awaitsClosed`. */
  | { type: 'cmd.notifyClose'; code: number; reason: string; awaitsClosed: boolean }
  | { type: 'cmd.release'; outcome: ConnectionOutcome };

/** Context of a new connection; also the context of every connection idle in `open.ready`. */
export function initialContext(clientId: number, settlesAtOnce: SettlesAtOnce = NOTHING_AT_ONCE): ConnectionContext {
  return {
    clientId,
    settlesAtOnce,
    cause: null,
    closeCode: null,
    closeReason: '',
    rejectStatus: null,
    socketGone: false,
    drained: false,
    outcome: null,
  };
}

/**
 * Whether messages read before the close began are dropped rather than delivered (C4):
 * only when the app closed the client or a hook failed.
 */
export function dropsPending(cause: CloseCause): boolean {
  return cause.kind === 'app' || cause.kind === 'hook-failed';
}

/** A cause that yields to a peer's close frame that already arrived (see `conn.close.begin`). */
function yieldsToPeer(cause: CloseCause): boolean {
  return cause.kind !== 'peer' && cause.kind !== 'dropped' && cause.kind !== 'protocol';
}

/** Whether the server must send the close frame (the peer has not closed the socket). */
export function serverInitiated(cause: CloseCause): boolean {
  return cause.kind !== 'peer' && cause.kind !== 'dropped';
}

/** The context a `conn.close.begin` sets. */
function closeBegun(event: ConnectionEvent): Partial<ConnectionContext> {
  const { cause, socketGone, drained } = event as Extract<ConnectionEvent, { type: 'conn.close.begin' }>;
  const { code, reason } = closeCodeFor(cause);
  return { cause, closeCode: code, closeReason: reason, socketGone: socketGone === true, drained: drained === true };
}

export const connectionMachine = setup({
  types: {
    context: {} as ConnectionContext,
    events: {} as ConnectionEvent,
    input: {} as ConnectionInput,
    emitted: {} as ConnectionCommand,
  },
  actions: {
    emitOpen: emit(({ context }) => ({ type: 'cmd.open' as const, awaitsOpened: !context.settlesAtOnce.open })),
    beginClose: assign(({ event }) => closeBegun(event)),
    // One assign, not two: each clones the snapshot.
    beginCloseReleased: assign(({ event }) => ({ ...closeBegun(event), outcome: 'closed' as const })),
    emitClose: emit(({ context }) => ({
      type: 'cmd.close' as const,
      cause: context.cause as CloseCause,
      code: context.closeCode as number,
      reason: context.closeReason,
      dropPending: dropsPending(context.cause as CloseCause),
      awaitsDrained: !context.drained,
      awaitsSocketGone: !context.socketGone,
    })),
    emitNotifyClose: emit(({ context }) => ({
      type: 'cmd.notifyClose' as const,
      code: context.closeCode as number,
      reason: context.closeReason,
      awaitsClosed: !context.settlesAtOnce.close,
    })),
  },
  guards: {
    readyToNotify: ({ context }) => context.socketGone && context.drained,
    /** The close begins with the socket gone and nothing to deliver: `onClose` is next. */
    beginsReadyToNotify: ({ event }) => event.type === 'conn.close.begin' && event.socketGone === true && event.drained === true,
    peerCloseWins: ({ event }) =>
      (event.type === 'conn.close.begin' && event.peerClosing === true && yieldsToPeer(event.cause)) ||
      (event.type === 'conn.hook.failed' && event.peerClosing === true),
    acceptsAtOnce: ({ context }) => context.settlesAtOnce.accept,
    opensAtOnce: ({ context }) => context.settlesAtOnce.open,
    closesAtOnce: ({ context }) => context.settlesAtOnce.close,
  },
}).createMachine({
  id: 'connection',
  context: ({ input }) => initialContext(input.clientId, input.settlesAtOnce),
  // The client machine is this actor's child: its error must not stop this actor.
  on: { 'xstate.error.actor.*': {}, 'xstate.done.actor.*': {} },
  initial: 'handshaking',
  states: {
    handshaking: {
      initial: 'deciding',
      states: {
        // A step the runtime settles at once (see SettlesAtOnce) is not a state of its own
        // but its command, emitted with the one before: each XState microstep costs. The
        // commands are the same, in the same order; an inspector turns this off.
        deciding: {
          entry: enqueueActions(({ context, enqueue }) => {
            const accepted = context.settlesAtOnce.accept;
            enqueue.emit({ type: 'cmd.handshake', awaitsAnswer: !accepted });
            // No onHandshake: upgrade now, from this state (`conn.upgraded` is handled below).
            if (accepted) enqueue.emit({ type: 'cmd.upgrade' });
          }),
          on: {
            'conn.handshake.accepted': 'upgrading',
            'conn.upgraded': [
              { guard: and(['acceptsAtOnce', 'opensAtOnce']), target: '#connection.open.ready', actions: 'emitOpen' },
              { guard: 'acceptsAtOnce', target: '#connection.open' },
            ],
          },
        },
        upgrading: {
          entry: emit({ type: 'cmd.upgrade' }),
          on: {
            'conn.upgraded': [{ guard: 'opensAtOnce', target: '#connection.open.ready', actions: 'emitOpen' }, { target: '#connection.open' }],
          },
        },
      },
      on: {
        'conn.handshake.rejected': {
          target: 'closed',
          actions: [
            assign({ outcome: 'rejected', rejectStatus: ({ event }) => event.status }),
            emit(({ event }) => ({ type: 'cmd.reject' as const, status: event.status })),
          ],
        },
        'conn.socket.gone': { target: 'closed', actions: assign({ outcome: 'aborted', socketGone: true }) },
      },
    },
    open: {
      initial: 'opening',
      states: {
        opening: {
          entry: 'emitOpen',
          on: { 'conn.opened': 'ready' },
        },
        ready: { entry: emit({ type: 'cmd.ready' }) },
      },
      on: {
        'conn.close.begin': [
          { guard: 'peerCloseWins' },
          {
            guard: and(['closesAtOnce', 'beginsReadyToNotify']),
            target: '#connection.closed',
            actions: ['beginCloseReleased', 'emitClose', 'emitNotifyClose'],
          },
          { guard: 'beginsReadyToNotify', target: '#connection.closing.notifying', actions: 'beginClose' },
          { target: 'closing', actions: 'beginClose' },
        ],
        'conn.hook.failed': [
          { guard: 'peerCloseWins', actions: emit({ type: 'cmd.halt' }) },
          {
            target: 'closing',
            actions: assign(({ event }) => {
              const cause: CloseCause = { kind: 'hook-failed', hook: event.hook };
              const { code, reason } = closeCodeFor(cause);
              return { cause, closeCode: code, closeReason: reason };
            }),
          },
        ],
      },
    },
    closing: {
      entry: 'emitClose',
      initial: 'draining',
      states: {
        draining: {
          always: { guard: 'readyToNotify', target: 'notifying' },
        },
        notifying: {
          entry: 'emitNotifyClose',
          always: { guard: 'closesAtOnce', target: '#connection.closed', actions: assign({ outcome: 'closed' }) },
          on: { 'conn.closed': { target: '#connection.closed', actions: assign({ outcome: 'closed' }) } },
        },
      },
      on: {
        'conn.socket.gone': { actions: assign({ socketGone: true }) },
        'conn.drained': { actions: assign({ drained: true }) },
        'conn.hook.failed': { actions: emit({ type: 'cmd.halt' }) },
      },
    },
    closed: {
      type: 'final',
      entry: emit(({ context }) => ({ type: 'cmd.release' as const, outcome: context.outcome ?? 'aborted' })),
    },
  },
});

export type ConnectionMachine = typeof connectionMachine;
