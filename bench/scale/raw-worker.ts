/**
 * The raw `ws` floor of the scale bench (`--server raw`, `--baseline`): one node:cluster worker
 * running a minimal `ws` WebSocketServer on the shared port (round-robin, as runCluster's).
 * No app, no heartbeat. The primary triggers a broadcast with an IPC message to every worker at
 * once; each runs the usual loop over `wss.clients` (payload encoded once, a text frame).
 * Answers the same bench IPC as worker.ts (memory after GC, counts, CPU).
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { WebSocketServer } from 'ws';
import { broadcastText, isWorkerMessage, WORKER_HEADER, type WorkerCommands, type WorkerReply, type WorkerRequest } from './protocol.js';

// Every worker asks for port 0: node:cluster's primary shares one listening socket per (host, port).
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
wss.on('headers', (headers) => headers.push(`${WORKER_HEADER}: ${process.pid}`));
wss.on('connection', (ws) => ws.on('error', () => undefined));

const gc = (globalThis as { gc?: () => void }).gc;

const commands: { [K in keyof WorkerCommands]: (arg: WorkerCommands[K]['req']) => Promise<WorkerCommands[K]['res']> } = {
  mem: async () => {
    if (gc === undefined) throw new Error('run the worker with --expose-gc');
    gc();
    await yieldToLoop();
    gc();
    const { rss, heapUsed, external } = process.memoryUsage();
    return { rss, heapUsed, external };
  },
  local: () => Promise.resolve(wss.clients.size),
  cpu: () => Promise.resolve(process.cpuUsage()),
  cluster: () => Promise.resolve({ count: wss.clients.size, ms: 0 }),
  broadcast: ({ seq, sendMs }) => {
    const started = performance.now();
    const data = Buffer.from(broadcastText(seq, sendMs));
    let sent = 0;
    for (const ws of wss.clients) {
      ws.send(data, { binary: false });
      sent++;
    }
    return Promise.resolve({ sent, loopMs: performance.now() - started });
  },
};

process.on('message', (raw: unknown) => {
  if (!isWorkerMessage<WorkerRequest>(raw)) return;
  const answer = (body: Omit<WorkerReply, 'tag' | 'id'>): void => void process.send?.({ tag: 'scale-bench', id: raw.id, ...body } satisfies WorkerReply);
  const run = commands[raw.cmd] as (arg: unknown) => Promise<WorkerCommands[keyof WorkerCommands]['res']>;
  run(raw.arg).then(
    (result) => answer({ result }),
    (error: unknown) => answer({ error: error instanceof Error ? error.message : String(error) }),
  );
});
