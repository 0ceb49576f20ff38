/**
 * The minimal `ws` echo server, as ws's README writes it, with the bench's control channel.
 * Broadcast is the usual loop of `client.send` over `wss.clients` (the payload encoded once,
 * as a Buffer). `perConnection` adds to each connection (the actor floor uses it).
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { serveControl } from './control.js';

export async function serveRawWsEcho(perConnection?: (ws: WebSocket) => void): Promise<void> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  wss.on('connection', (ws) => {
    ws.on('error', () => undefined);
    ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
    perConnection?.(ws);
  });
  await once(wss, 'listening');

  serveControl({
    port: (wss.address() as AddressInfo).port,
    clients: () => wss.clients.size,
    broadcast: (text) => {
      const data = Buffer.from(text);
      for (const client of wss.clients) {
        if (client.readyState === WebSocket.OPEN) client.send(data, { binary: false });
      }
      return Promise.resolve();
    },
  });
}
