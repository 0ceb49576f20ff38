/**
 * The lifecycle of one connection, as a pure machine: it decides which hook runs on which
 * transition and emits commands (`cmd.*`) that the runtime carries out. Data messages never
 * pass through it (see docs/lifecycle.md for why); the runtime reports what it needs.
 */
import { assign, emit, setup } from 'xstate';
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
   * message waits or runs), so the runtime sends no separate event for them.
   */
  | { type: 'conn.close.begin'; cause: CloseCause; socketGone?: boolean; drained?: boolean }
  | { type: 'conn.drained' }
  | { type: 'conn.socket.gone' }
  | { type: 'conn.closed' };

/** Commands the machine emits for the runtime. */
export type ConnectionCommand =
  | { type: 'cmd.handshake' }
  | { type: 'cmd.upgrade' }
  | { type: 'cmd.reject'; status: number }
  | { type: 'cmd.open' }
  | { type: 'cmd.close'; cause: CloseCause; code: number; reason: string; dropPending: boolean }
  | { type: 'cmd.notifyClose'; code: number; reason: string }
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

/** Whether the server must send the close frame (the peer has not closed the socket). */
export function serverInitiated(cause: CloseCause): boolean {
  return cause.kind !== 'peer' && cause.kind !== 'dropped';
}

export const connectionMachine = setup({
  types: {
    context: {} as ConnectionContext,
    events: {} as ConnectionEvent,
    input: {} as ConnectionInput,
    emitted: {} as ConnectionCommand,
  },
  guards: {
    readyToNotify: ({ context }) => context.socketGone && context.drained,
    acceptsAtOnce: ({ context }) => context.settlesAtOnce.accept,
    opensAtOnce: ({ context }) => context.settlesAtOnce.open,
    closesAtOnce: ({ context }) => context.settlesAtOnce.close,
  },
}).createMachine({
  id: 'connection',
  context: ({ input }) => initialContext(input.clientId, input.settlesAtOnce),
  initial: 'handshaking',
  states: {
    handshaking: {
      initial: 'deciding',
      states: {
        deciding: {
          entry: emit({ type: 'cmd.handshake' }),
          always: { guard: 'acceptsAtOnce', target: 'upgrading' },
          on: { 'conn.handshake.accepted': 'upgrading' },
        },
        upgrading: {
          entry: emit({ type: 'cmd.upgrade' }),
          on: { 'conn.upgraded': '#connection.open' },
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
          entry: emit({ type: 'cmd.open' }),
          always: { guard: 'opensAtOnce', target: 'ready' },
          on: { 'conn.opened': 'ready' },
        },
        ready: {},
      },
      on: {
        'conn.close.begin': {
          target: 'closing',
          actions: assign(({ event }) => {
            const { code, reason } = closeCodeFor(event.cause);
            return { cause: event.cause, closeCode: code, closeReason: reason, socketGone: event.socketGone === true, drained: event.drained === true };
          }),
        },
      },
    },
    closing: {
      entry: emit(({ context }) => ({
        type: 'cmd.close' as const,
        cause: context.cause as CloseCause,
        code: context.closeCode as number,
        reason: context.closeReason,
        dropPending: dropsPending(context.cause as CloseCause),
      })),
      initial: 'draining',
      states: {
        draining: {
          always: { guard: 'readyToNotify', target: 'notifying' },
        },
        notifying: {
          entry: emit(({ context }) => ({
            type: 'cmd.notifyClose' as const,
            code: context.closeCode as number,
            reason: context.closeReason,
          })),
          always: { guard: 'closesAtOnce', target: '#connection.closed', actions: assign({ outcome: 'closed' }) },
          on: { 'conn.closed': { target: '#connection.closed', actions: assign({ outcome: 'closed' }) } },
        },
      },
      on: {
        'conn.socket.gone': { actions: assign({ socketGone: true }) },
        'conn.drained': { actions: assign({ drained: true }) },
      },
    },
    closed: {
      type: 'final',
      entry: emit(({ context }) => ({ type: 'cmd.release' as const, outcome: context.outcome ?? 'aborted' })),
    },
  },
});

export type ConnectionMachine = typeof connectionMachine;
