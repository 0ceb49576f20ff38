/**
 * The server's lifecycle. `start` and `stop` are invoked promise actors that the runtime
 * provides; the machine guarantees their order (no stop work before start settled, one stop).
 */
import { assign, fromPromise, setup } from 'xstate';

export interface SupervisorContext {
  error: unknown;
}

export type SupervisorEvent = { type: 'server.start' } | { type: 'server.stop' };

export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
  },
  actors: {
    // Replaced by the runtime through `provide`; these defaults keep the machine testable alone.
    start: fromPromise<void>(async () => {}),
    stop: fromPromise<void>(async () => {}),
  },
}).createMachine({
  id: 'supervisor',
  context: { error: null },
  initial: 'idle',
  states: {
    idle: {
      on: { 'server.start': 'starting', 'server.stop': 'stopped' },
    },
    starting: {
      invoke: {
        src: 'start',
        onDone: 'running',
        onError: { target: 'failed', actions: assign({ error: ({ event }) => event.error }) },
      },
    },
    running: {
      on: { 'server.stop': 'stopping' },
    },
    stopping: {
      invoke: {
        src: 'stop',
        onDone: 'stopped',
        onError: { target: 'stopped', actions: assign({ error: ({ event }) => event.error }) },
      },
    },
    stopped: { type: 'final' },
    failed: { type: 'final' },
  },
});

export type SupervisorMachine = typeof supervisorMachine;
