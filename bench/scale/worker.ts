/**
 * One cluster worker of the scale bench (compiled, run under node with --expose-gc): a
 * wsactor server on the shared port, joined to the others through the Redis adapter.
 *
 * The app tags each 101 with its pid (so clients know which worker holds them, at no cost
 * per open connection) and, when a client sends `broadcast <seq>`, broadcasts
 * `<seq> <send time>` to everyone but that client and answers it with the result.
 * Bench-only IPC from the primary: memory after GC and client counts.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { runCluster } from '../../src/cluster/cluster.js';
import type { Endpoint, HandshakeResponse, Message, Websocket } from '../../src/index.js';
import { broadcastText, HEARTBEAT_ENV, isWorkerMessage, REDIS_URL_ENV, wallMs, WORKER_HEADER, type BroadcastReply, type WorkerCommands, type WorkerReply, type WorkerRequest } from './protocol.js';

const pid = String(process.pid);
let endpoint: Endpoint | null = null;

class ScaleApp implements Websocket<null> {
  onStart(e: Endpoint): void {
    endpoint = e;
  }

  onHandshake(_request: unknown, response: HandshakeResponse): null {
    response.setHeader(WORKER_HEADER, pid);
    return null;
  }

  async onData(clientId: number, message: Message): Promise<void> {
    const [command, seqText] = (await message.text()).split(' ');
    if (command !== 'broadcast' || endpoint === null) return;
    const seq = Number(seqText);
    const sendMs = wallMs();
    const result = await endpoint.broadcast(broadcastText(seq, sendMs), [clientId]);
    const reply: BroadcastReply = {
      seq,
      pid: process.pid,
      sendMs,
      resolvedMs: wallMs(),
      sent: result.sent.length,
      distinctSent: new Set(result.sent).size,
      failed: result.failed.length,
      unreachedNodes: result.unreachedNodes ?? 0,
    };
    await endpoint.send(JSON.stringify(reply), clientId);
  }
}

const gc = (globalThis as { gc?: () => void }).gc;

const commands: { [K in keyof WorkerCommands]: () => Promise<WorkerCommands[K]['res']> } = {
  mem: async () => {
    if (gc === undefined) throw new Error('run the worker with --expose-gc');
    gc();
    await yieldToLoop(); // let finalizers and weak callbacks run between the two collections
    gc();
    const { rss, heapUsed, external } = process.memoryUsage();
    return { rss, heapUsed, external };
  },
  local: () => Promise.resolve(endpoint?.getLocalClients().length ?? 0),
  cpu: () => Promise.resolve(process.cpuUsage()),
  cluster: async () => {
    const started = performance.now();
    const count = (await endpoint?.getClients())?.length ?? 0;
    return { count, ms: performance.now() - started };
  },
  broadcast: () => Promise.reject(new Error('raw ws workers only')),
};

process.on('message', (raw: unknown) => {
  if (!isWorkerMessage<WorkerRequest>(raw)) return;
  const answer = (body: Omit<WorkerReply, 'tag' | 'id'>): void => void process.send?.({ tag: 'scale-bench', id: raw.id, ...body } satisfies WorkerReply);
  commands[raw.cmd]().then(
    (result) => answer({ result }),
    (error: unknown) => answer({ error: error instanceof Error ? error.message : String(error) }),
  );
});

runCluster({
  setup: () => ({ app: new ScaleApp(), options: { heartbeatMs: Number(process.env[HEARTBEAT_ENV] ?? 10_000) } }),
  redis: { url: process.env[REDIS_URL_ENV] ?? 'redis://127.0.0.1:6379', prefix: 'scale-bench' },
});
