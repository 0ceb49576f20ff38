/**
 * This project: the echo example app (examples/echo.ts, echo through `endpoint.send` /
 * `endpoint.sendBinary` in `onData`) on a wsactor server with default options.
 * Broadcast goes through `endpoint.broadcast`.
 */
import { EchoApp } from '../../examples/echo.js';
import { createServer, type ServerOptions } from '../../src/index.js';
import { serveControl } from './control.js';

const options: ServerOptions = { host: '127.0.0.1', port: 0 };
const server = createServer(new EchoApp(), options);
await server.start();

serveControl({
  port: server.address()?.port ?? 0,
  clients: () => server.endpoint.getLocalClients().length,
  broadcast: (text) => server.endpoint.broadcast(text),
});
