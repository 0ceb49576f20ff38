/**
 * The actor floor: the raw `ws` echo server plus, for each connection, the connection actor
 * wsactor runs for the echo app, driven through the same life (created and started as the
 * socket upgrades, `conn.upgraded`, then `conn.close.begin` when the socket closed; the echo
 * app has no `onHandshake`, `onOpen` or `onClose`, so each step settles at once as in wsactor).
 * Its cost over raw `ws` is what an XState actor per connection costs in place (its work and
 * its garbage); wsactor's cost over this server is the rest of its runtime.
 */
import { connectionMachine } from '../../src/machines/connection.js';
import { createActorRoot, createChildActor } from '../../src/runtime/actor-root.js';
import { serveRawWsEcho } from './raw-ws-echo.js';

const root = createActorRoot(null);
const atOnce = Object.freeze({ accept: true, open: true, close: true });
let nextId = 1;

await serveRawWsEcho((ws) => {
  const actor = createChildActor(connectionMachine, root, { clientId: nextId++, settlesAtOnce: atOnce });
  actor.on('*', (command) => {
    if (command.type === 'cmd.upgrade') actor.send({ type: 'conn.upgraded' });
  });
  actor.subscribe({ error: (error) => console.error('connection actor failed', error) });
  actor.start();
  ws.on('close', (code) => {
    const cause = { kind: 'peer' as const, code, reason: '' };
    actor.send({ type: 'conn.close.begin', cause, socketGone: true, drained: true, peerClosing: true });
  });
});
