/**
 * This project with a per-client machine (README "Per-client machines"): the player of
 * player.ts as an XState machine, one actor per client (`clientMachine`, default decoder and
 * policy), on a wsactor server with default options but heartbeats off. Idle, each machine
 * hibernates with its connection actor 250 ms after its last message and is restored on its
 * next one.
 *
 * Heartbeats off: by default wsactor pings a client after 10 s without reading from it, and
 * the raw ws baseline pings nobody. With 10,000 clients that went quiet within a few seconds
 * of each other, those pings (and their pongs) fall into the measured windows, about a
 * thousand a second, and would be counted as the cost of messages and of hibernation.
 */
import { assign, setup } from 'xstate';
import { clientMachine, clientOf, createServer, type ClientCloseEvent, type ClientMachineInput, type ServerOptions, type Websocket } from '../../src/index.js';
import { serveControl } from './control.js';
import type { PlayerContext, PlayerEvent, PlayerReply } from './player.js';

const reply = (self: Parameters<typeof clientOf>[0], message: PlayerReply): void => void clientOf(self).send(message);

const player = setup({
  types: { context: {} as PlayerContext, events: {} as PlayerEvent | ClientCloseEvent, input: {} as ClientMachineInput },
}).createMachine({
  id: 'player',
  context: { name: '', score: 0 },
  initial: 'lobby',
  states: {
    lobby: {
      on: {
        join: {
          target: 'playing',
          actions: [assign({ name: ({ event }) => event.name }), ({ self, context }) => reply(self, { type: 'joined', name: context.name })],
        },
      },
    },
    playing: {
      on: {
        score: {
          actions: [assign({ score: ({ context, event }) => context.score + event.points }), ({ self, context }) => reply(self, { type: 'score', score: context.score })],
        },
        pause: { target: 'paused', actions: ({ self }) => reply(self, { type: 'state', state: 'paused' }) },
      },
    },
    paused: {
      on: { resume: { target: 'playing', actions: ({ self }) => reply(self, { type: 'state', state: 'playing' }) } },
    },
  },
});

const app: Websocket = { clientMachine: clientMachine(player) };
const options: ServerOptions = { host: '127.0.0.1', port: 0, heartbeatMs: null };
const server = createServer(app, options);
await server.start();

serveControl({
  port: server.address()?.port ?? 0,
  clients: () => server.endpoint.getLocalClients().length,
  broadcast: (text) => server.endpoint.broadcast(text),
  eventLoopDelay: false,
});
