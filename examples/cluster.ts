/**
 * One room across worker processes: every text a client sends is broadcast to every client
 * of every worker. Without --redis the workers are independent (each broadcasts to its own
 * clients only); with it they share one Endpoint over Redis pub/sub.
 *
 * Run: npm run cluster -- --workers 3 --port 9001 --redis redis://127.0.0.1:6379
 * Try: two `websocat ws://127.0.0.1:9001` (or browsers); each sees what the other sends.
 */
import { parseArgs } from 'node:util';
import { runCluster, type Endpoint, type Message, type Websocket } from '../src/index.js';

class Room implements Websocket<null> {
  #endpoint: Endpoint | null = null;

  onStart(endpoint: Endpoint): void {
    this.#endpoint = endpoint;
  }

  async onOpen(clientId: number): Promise<void> {
    // The id names the worker too: Math.floor(id / 2 ** 32) is its node id.
    await this.#endpoint?.send(`welcome, you are ${clientId} on node ${Math.floor(clientId / 2 ** 32)} (pid ${process.pid})`, clientId);
  }

  async onData(clientId: number, message: Message): Promise<void> {
    if (message.isBinary) return;
    const text = (await message.text()).slice(0, 1000);
    const result = await this.#endpoint?.broadcast(`${clientId}: ${text}`);
    if (result !== undefined && (result.failed.length > 0 || (result.unreachedNodes ?? 0) > 0)) {
      console.warn(`broadcast: ${result.failed.length} failed, ${result.unreachedNodes ?? 0} nodes unreached`);
    }
  }
}

const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: '2' },
    port: { type: 'string', default: '9001' },
    host: { type: 'string', default: '127.0.0.1' },
    redis: { type: 'string' },
  },
});
const redisUrl = values.redis;

const cluster = runCluster({
  workers: Number(values.workers),
  port: Number(values.port),
  host: values.host,
  setup: () => ({ app: new Room() }),
  redis: redisUrl === undefined ? null : { url: redisUrl },
});

if (cluster.isPrimary) {
  const { port, workers } = await cluster.ready;
  console.log(`room on ws://${values.host}:${port} with ${workers.length} workers (node ids ${workers.map((w) => w.nodeId).join(', ')})`);
  console.log(redisUrl === undefined ? 'no --redis: each worker is its own room' : `one room over Redis at ${redisUrl}`);
}
