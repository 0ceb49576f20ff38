/**
 * Connection churn: `concurrency` loops, each repeating connect -> one message -> echo ->
 * close handshake, rotating over loopback source addresses. Records each cycle's duration.
 */
import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import { serve } from '../lib/ipc.js';
import { clientOptions, sleep, type ChurnJob, type LoadCommands } from '../lib/protocol.js';
import { Window } from './window.js';

const win = new Window();
let running = false;
let loops: Promise<void>[] = [];
let nextAddress = 0;

function cycle(job: ChurnJob, payload: Buffer): Promise<void> {
  const localAddress = job.addresses[nextAddress++ % job.addresses.length];
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${job.port}/`, clientOptions(localAddress));
    let echoed = false;
    ws.on('open', () => ws.send(payload));
    ws.on('message', () => {
      echoed = true;
      ws.close(1000);
    });
    ws.on('error', reject);
    ws.on('close', (code) => (echoed && code === 1000 ? resolve() : reject(new Error(`closed with ${code}`))));
  });
}

async function loop(job: ChurnJob, payload: Buffer): Promise<void> {
  while (running) {
    const started = performance.now();
    try {
      await cycle(job, payload);
      win.record(performance.now() - started);
    } catch {
      win.errors++;
      await sleep(10);
    }
  }
}

serve<LoadCommands<ChurnJob>>({
  start: (job) => {
    running = true;
    const payload = Buffer.alloc(job.size, 0x61);
    loops = Array.from({ length: job.concurrency }, () => loop(job, payload));
    return null;
  },
  mark: () => win.take(),
  stop: async () => {
    running = false;
    await Promise.all(loops);
    return null;
  },
});
