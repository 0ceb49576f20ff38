/**
 * One client process of the scale bench (compiled, run under node): opens idle `ws`
 * connections from its own loopback source addresses, with a bounded number of handshakes
 * in flight, and records when each broadcast reached each connection, and how often.
 */
import { WebSocket } from 'ws';
import { serve } from '../lib/ipc.js';
import { clientOptions, sleep } from '../lib/protocol.js';
import { wallMs, WORKER_HEADER, type ClientCommands, type Receipt } from './protocol.js';

const ATTEMPTS = 5;
/**
 * Source ports are picked here, per source address: a bind() to port 0 makes the kernel search
 * the ephemeral range for a free port, which took ~6 ms per connection once ~60k loopback
 * sockets were open, and stalled connecting. These stay below the ephemeral range start.
 */
const FIRST_PORT = 10_000;
const LAST_PORT = 32_767;
const nextPort = new Map<string, number>();
const HANDSHAKE_TIMEOUT_MS = 30_000;
/** After the last connection got a broadcast, wait this long for duplicates before answering. */
const DUPLICATE_GRACE_MS = 300;

const sockets: WebSocket[] = [];
/** Worker pid of each connection (same index as `sockets`). */
const workerOf: string[] = [];
let closed = 0;
/** Close codes the connections saw, for the check that a cluster stop closes everyone with 1001. */
const closeCodes: Record<string, number> = {};

interface Tally {
  /** One byte per connection: got it already. */
  readonly got: Uint8Array;
  received: number;
  duplicates: number;
  firstMs: number;
  lastMs: number;
  readonly firstByWorker: Map<string, number>;
  readonly lastByWorker: Map<string, number>;
  complete: (() => void) | null;
}
const tallies = new Map<number, Tally>();

function tally(seq: number): Tally {
  let t = tallies.get(seq);
  if (t === undefined) {
    t = { got: new Uint8Array(sockets.length), received: 0, duplicates: 0, firstMs: 0, lastMs: 0, firstByWorker: new Map(), lastByWorker: new Map(), complete: null };
    tallies.set(seq, t);
  }
  return t;
}

function onMessage(index: number, data: Buffer): void {
  const now = wallMs();
  const t = tally(Number.parseInt(data.toString('latin1', 0, 12), 10));
  if (t.got[index] === 1) {
    t.duplicates++;
    return;
  }
  t.got[index] = 1;
  if (t.received++ === 0) t.firstMs = now;
  t.lastMs = now;
  const worker = workerOf[index] ?? '?';
  if (!t.firstByWorker.has(worker)) t.firstByWorker.set(worker, now);
  t.lastByWorker.set(worker, now);
  if (t.received === sockets.length) t.complete?.();
}

function takePort(address: string): number {
  const port = nextPort.get(address) ?? FIRST_PORT;
  if (port > LAST_PORT) throw new Error(`no source ports left on ${address}`);
  nextPort.set(address, port + 1);
  return port;
}

/** One handshake from `localAddress`:`localPort`; resolves once open. */
function openOne(url: string, localAddress: string, localPort: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { ...clientOptions(localAddress), localPort, handshakeTimeout: HANDSHAKE_TIMEOUT_MS });
    let worker = '?';
    ws.once('upgrade', (res) => {
      const header = res.headers[WORKER_HEADER];
      if (typeof header === 'string') worker = header;
    });
    ws.once('error', reject);
    ws.once('open', () => {
      ws.off('error', reject);
      ws.on('error', () => undefined); // a later error shows up as a close
      const index = sockets.push(ws) - 1;
      workerOf[index] = worker;
      ws.on('message', (data: Buffer) => onMessage(index, data));
      ws.once('close', (code: number) => {
        closed++;
        closeCodes[code] = (closeCodes[code] ?? 0) + 1;
      });
      resolve();
    });
  });
}

serve<ClientCommands>({
  connect: async ({ port, count, addresses, inflight }) => {
    const url = `ws://127.0.0.1:${port}/`;
    let next = 0;
    let failedAttempts = 0;
    const lane = async (): Promise<void> => {
      while (next < count) {
        const address = addresses[next++ % addresses.length] ?? '127.0.0.1';
        for (let attempt = 1; ; attempt++) {
          try {
            await openOne(url, address, takePort(address));
            break;
          } catch (error) {
            failedAttempts++;
            if (attempt === ATTEMPTS) throw error;
            // A port another socket holds: the next one at once; anything else: back off.
            if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') await sleep(100 * attempt);
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(inflight, count) }, lane));
    const byWorker: Record<string, number> = {};
    for (const pid of workerOf) byWorker[pid] = (byWorker[pid] ?? 0) + 1;
    return { connected: sockets.length - closed, failedAttempts, byWorker };
  },
  progress: () => sockets.length - closed,
  closes: () => closeCodes,
  cpu: () => process.cpuUsage(),
  await: ({ seq, timeoutMs }) =>
    new Promise<Receipt>((resolve) => {
      const t = tally(seq);
      let finished = false;
      const finish = (): void => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        setTimeout(() => {
          tallies.delete(seq);
          const { received, duplicates, firstMs, lastMs } = t;
          resolve({ received, duplicates, firstMs, lastMs, connections: sockets.length - closed, firstByWorker: Object.fromEntries(t.firstByWorker), lastByWorker: Object.fromEntries(t.lastByWorker) });
        }, DUPLICATE_GRACE_MS);
      };
      const timer = setTimeout(finish, timeoutMs);
      t.complete = finish;
      if (t.received >= sockets.length) finish();
    }),
});
