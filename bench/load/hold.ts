/**
 * Idle holders and fan-out receivers: opens many connections that send nothing, and notes
 * when each broadcast (identified by the sequence number it starts with) reached them.
 */
import { once } from 'node:events';
import { WebSocket } from 'ws';
import { serve } from '../lib/ipc.js';
import { clientOptions, nowMs, payloadSeq, type HoldCommands } from '../lib/protocol.js';

const OPENING_AT_ONCE = 64;
const sockets: WebSocket[] = [];
const seen = new Map<number, { received: number; lastMs: number }>();
const waiters = new Map<number, () => void>();

function onMessage(data: Buffer): void {
  const now = nowMs();
  const seq = payloadSeq(data);
  const entry = seen.get(seq) ?? { received: 0, lastMs: 0 };
  entry.received++;
  entry.lastMs = now;
  seen.set(seq, entry);
  if (entry.received === sockets.length) waiters.get(seq)?.();
}

async function openOne(port: number, localAddress: string): Promise<void> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, clientOptions(localAddress));
  ws.on('message', onMessage);
  await once(ws, 'open');
  ws.on('error', () => undefined);
  sockets.push(ws);
}

serve<HoldCommands>({
  connect: async ({ port, count, addresses }) => {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < count) {
        const i = next++;
        await openOne(port, addresses[i % addresses.length] ?? '127.0.0.1');
      }
    };
    await Promise.all(Array.from({ length: OPENING_AT_ONCE }, worker));
    return { connected: sockets.length };
  },
  await: ({ seq, timeoutMs }) =>
    new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(seq);
        const entry = seen.get(seq) ?? { received: 0, lastMs: 0 };
        for (const old of seen.keys()) if (old <= seq) seen.delete(old);
        resolve(entry);
      };
      const timer = setTimeout(() => {
        waiters.delete(seq);
        reject(new Error(`broadcast ${seq}: ${seen.get(seq)?.received ?? 0}/${sockets.length} received`));
      }, timeoutMs);
      waiters.set(seq, done);
      if ((seen.get(seq)?.received ?? 0) >= sockets.length) done();
    }),
});
