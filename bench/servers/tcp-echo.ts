/**
 * Ceiling: a plain `node:net` echo of length-prefixed messages (4-byte big-endian length,
 * then the payload), no WebSocket framing or masking. Each whole message is written back.
 */
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { serveControl } from './control.js';

const sockets = new Set<Socket>();

const server = createServer((socket) => {
  sockets.add(socket);
  socket.setNoDelay(true);
  socket.on('error', () => undefined);
  socket.on('close', () => sockets.delete(socket));
  let pending: Buffer | null = null;
  socket.on('data', (chunk: Buffer) => {
    const buf = pending === null ? chunk : Buffer.concat([pending, chunk]);
    let offset = 0;
    socket.cork();
    while (buf.length - offset >= 4) {
      const end = offset + 4 + buf.readUInt32BE(offset);
      if (end > buf.length) break;
      socket.write(buf.subarray(offset, end));
      offset = end;
    }
    socket.uncork();
    pending = offset === buf.length ? null : buf.subarray(offset);
  });
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');

serveControl({
  port: (server.address() as AddressInfo).port,
  clients: () => sockets.size,
  broadcast: () => Promise.reject(new Error('the TCP ceiling has no broadcast')),
});
