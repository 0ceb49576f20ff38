/** The README's chatter machine as an app, and machine apps with planted bugs. */
import { assign, setup } from 'xstate';
import { clientMachine, clientOf, type ClientCloseEvent, type ClientMachineInput, type Websocket } from '../../src/index.js';

type Ev = { type: 'login'; name: string } | { type: 'say'; text: string } | { type: 'logout' } | ClientCloseEvent;

/** The "Per-client machines" example of the README. */
export const chatter = setup({
  types: { context: {} as { name: string }, events: {} as Ev, input: {} as ClientMachineInput },
}).createMachine({
  context: { name: '' },
  initial: 'anonymous',
  states: {
    anonymous: { on: { login: { target: 'member', actions: assign({ name: ({ event }) => event.name }) } } },
    member: {
      on: {
        say: { actions: ({ self, context, event }) => void clientOf(self).endpoint.broadcast(`${context.name}: ${event.text}`) },
        logout: 'gone',
      },
    },
    gone: { type: 'final' },
  },
  output: { code: 1000, reason: 'logged out' },
});

export const chatterApp = (): Websocket => ({ clientMachine: clientMachine(chatter, { unexpected: 'error' }) });

/**
 * A planted bug: the login guard has a side effect (it lets every other attempt through, a
 * "rate limit" kept in a closure), so the machine does not follow its own definition: the
 * same event in the same snapshot goes one way or the other.
 */
export function impureGuardApp(): Websocket {
  let attempts = 0;
  const machine = setup({
    types: { context: {} as { name: string }, events: {} as Ev, input: {} as ClientMachineInput },
    guards: { allowed: () => attempts++ % 2 === 1 },
  }).createMachine({
    context: { name: '' },
    initial: 'anonymous',
    states: {
      anonymous: { on: { login: { guard: 'allowed', target: 'member', actions: assign({ name: ({ event }) => event.name }) } } },
      member: { on: { logout: 'gone' } },
      gone: { type: 'final' },
    },
  });
  return { clientMachine: clientMachine(machine, { unexpected: 'ignore' }) };
}
