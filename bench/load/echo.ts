/**
 * Echo load: `conns` connections, each keeping `inflight` messages of `size` bytes in flight
 * (a reply triggers the next send). Records every round trip in an HDR histogram.
 * Speaks WebSocket (binary messages, through `ws`) or length-prefixed TCP for the ceiling.
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import { serve } from '../lib/ipc.js';
import { clientOptions, sleep, type EchoJob, type LoadCommands } from '../lib/protocol.js';
import { Window } from './window.js';

interface Transport {
  write(): void;
  close(): Promise<void>;
}

async function openWs(port: number, localAddress: string, payload: Buffer, onReply: () => void): Promise<Transport> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, clientOptions(localAddress));
  ws.on('message', onReply);
  await once(ws, 'open');
  ws.on('error', () => undefined);
  return {
    write: () => ws.send(payload, { binary: true }),
    close: async () => {
      if (ws.readyState === WebSocket.CLOSED) return;
      ws.close(1000);
      await Promise.race([once(ws, 'close'), sleep(2000)]);
      ws.terminate();
    },
  };
}

async function openTcp(port: number, localAddress: string, payload: Buffer, onReply: () => void): Promise<Transport> {
  const frame = Buffer.alloc(4 + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  payload.copy(frame, 4);
  const socket = connect({ port, host: '127.0.0.1', localAddress, noDelay: true });
  let pending: Buffer | null = null;
  socket.on('data', (chunk: Buffer) => {
    const buf = pending === null ? chunk : Buffer.concat([pending, chunk]);
    let offset = 0;
    while (buf.length - offset >= 4) {
      const end = offset + 4 + buf.readUInt32BE(offset);
      if (end > buf.length) break;
      offset = end;
      onReply();
    }
    pending = offset === buf.length ? null : buf.subarray(offset);
  });
  await once(socket, 'connect');
  socket.on('error', () => undefined);
  return {
    write: () => socket.write(frame),
    close: async () => {
      socket.end();
      await Promise.race([once(socket, 'close'), sleep(2000)]);
      socket.destroy();
    },
  };
}

const win = new Window();
let running = false;
const conns: { transport: Transport | null; sentAt: number[] }[] = [];

async function start(job: EchoJob): Promise<null> {
  const payload = Buffer.alloc(job.size, 0x61);
  const open = job.kind === 'ws' ? openWs : openTcp;
  running = true;
  await Promise.all(
    Array.from({ length: job.conns }, async (_, i) => {
      const conn: (typeof conns)[number] = { transport: null, sentAt: [] };
      conns.push(conn);
      const onReply = (): void => {
        const now = performance.now();
        win.record(now - (conn.sentAt.shift() ?? now));
        if (running && conn.transport !== null) {
          conn.sentAt.push(now);
          conn.transport.write();
        }
      };
      conn.transport = await open(job.port, job.addresses[i % job.addresses.length] ?? '127.0.0.1', payload, onReply);
    }),
  );
  for (const conn of conns) {
    for (let k = 0; k < job.inflight; k++) {
      conn.sentAt.push(performance.now());
      conn.transport?.write();
    }
  }
  return null;
}

serve<LoadCommands<EchoJob>>({
  start,
  mark: () => win.take(),
  stop: async () => {
    running = false;
    const deadline = performance.now() + 3000;
    while (conns.some((c) => c.sentAt.length > 0) && performance.now() < deadline) await sleep(10);
    await Promise.all(conns.map((c) => c.transport?.close() ?? Promise.resolve()));
    conns.length = 0;
    return null;
  },
});
