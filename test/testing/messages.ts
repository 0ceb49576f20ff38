/** The room chat's protocol as fast-check arbitraries, and the invariants its tests use. */
import fc from 'fast-check';
import type { Invariant } from '../../src/testing/index.js';
import type { RoomChat } from './apps.js';

/** Messages a room chat client sends: mostly valid, some not. */
export const chatMessages: fc.Arbitrary<string> = fc.oneof(
  { weight: 2, arbitrary: fc.constant('{"type":"who"}') },
  {
    weight: 4,
    arbitrary: fc
      .record({ type: fc.constant('say'), text: fc.option(fc.string({ maxLength: 6 }), { nil: undefined }) })
      .map((m) => JSON.stringify(m)),
  },
  { weight: 1, arbitrary: fc.constant('{"type":"leave"}') },
  { weight: 1, arbitrary: fc.constant('not json') },
);

/** After the run every client is closed: the app must hold nothing for any of them. */
export const noStateForClosedClients: Invariant<RoomChat> = ({ app }) => {
  const left = [...app.rooms].map(([room, ids]) => `${room}: ${[...ids].join(', ')}`);
  if (app.members.size === 0 && left.length === 0) return true;
  return `after every client closed the app still holds members [${[...app.members.keys()].join(', ')}] and rooms {${left.join('; ')}}`;
};

/** What the app reports as delivered must be what the Endpoint confirmed. */
export const countsOnlyConfirmedSends: Invariant<RoomChat> = ({ app, endpointCalls }) => {
  const confirmed = endpointCalls.filter((c) => c.method === 'multicast').reduce((n, c) => n + c.sent.length, 0);
  return app.delivered === confirmed || `the app counted ${app.delivered} deliveries; the Endpoint confirmed ${confirmed}`;
};

/** The app never sends to a client that is gone (its id is no longer known to the server). */
export const noSendToGoneClient: Invariant<RoomChat> = (run) => {
  const { endpointCalls } = run;
  for (const call of endpointCalls) {
    const gone = call.failed.find((f) => f.code === 'WSA_ERR_UNKNOWN_CLIENT');
    if (gone === undefined) continue;
    const by = call.from === null ? 'outside any hook' : `by ${call.from.hook} of client ${call.from.connection ?? '?'}`;
    const who = run.connectionOf(gone.clientId)?.label;
    return `endpoint.${call.method}(${call.preview}) ${by} went to id ${gone.clientId}${who === undefined ? '' : ` (client ${who})`}, which is gone (WSA_ERR_UNKNOWN_CLIENT)`;
  }
  return true;
};

/** At most one client is ever told it holds the seat (the app's replies, whether or not they arrived before the close). */
export const oneSeatHolder: Invariant<RoomChat> = (run) => {
  const told = new Set(run.endpointCalls.filter((c) => c.method === 'send' && c.preview === '{"type":"claimed","ok":true}').flatMap((c) => c.clientIds ?? []));
  const holders = [...told].map((id) => `client ${run.connectionOf(id)?.label ?? `id ${id}`}`);
  return holders.length <= 1 || `${holders.length} clients were told they hold the seat: ${holders.join(', ')}`;
};
