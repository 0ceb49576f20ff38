/**
 * The soak's wsactor server (compiled, run under node with --expose-gc): a chat-like app with
 * per-client state (key, room, message count) that echoes, multicasts to room mates and
 * broadcasts on the orchestrator's command. Alone (SOAK_STANDALONE=1, a forked child) or as a
 * cluster worker (runCluster with the Redis adapter). Every reply's outcome is tallied per
 * client; when a client closes, its ledger entry (messages read, delivered, dropped, replies
 * ok/failed by code) waits for the orchestrator.
 */
import { runCluster } from '../../src/cluster/cluster.js';
import { createServer, type WsActorServer } from '../../src/runtime/server.js';
import type { Endpoint, HandshakeRequest, HandshakeResponse, Message, Websocket } from '../../src/index.js';
import { roomOf, Sampler, SERVER_SETTINGS, serveSoak, snapshotTo, TAG, WORKER_HEADER, type BroadcastOutcome, type LedgerEntry } from './protocol.js';

interface Client {
  key: string;
  room: number;
  count: number;
  ok: number;
  failed: Record<string, number>;
  pending: number;
  settled: (() => void) | null;
}

const sampler = new Sampler();
const clients = new Map<number, Client>();
const rooms = Array.from({ length: 64 }, () => new Set<number>());
let ledger: LedgerEntry[] = [];
let endpoint: Endpoint | null = null;
let server: WsActorServer<{ key: string }> | null = null;
let opened = 0;
let closed = 0;
let delivered = 0;
let logged = 0;

const logger = {
  error: (msg: string, err?: unknown): void => void (logged++ < 20 && console.error(`[soak server ${process.pid}] ${msg}`, err ?? '')),
  warn: (msg: string, err?: unknown): void => void (logged++ < 20 && console.error(`[soak server ${process.pid}] ${msg}`, err ?? '')),
};

function settle(c: Client): void {
  if (--c.pending === 0) c.settled?.();
}

class SoakApp implements Websocket<{ key: string }> {
  onStart(e: Endpoint): void {
    endpoint = e;
  }

  onHandshake(request: HandshakeRequest, response: HandshakeResponse): { key: string } {
    response.setHeader(WORKER_HEADER, String(process.pid));
    return { key: request.query.get('k') ?? '?' };
  }

  onOpen(id: number, { key }: { key: string }): void {
    opened++;
    const room = roomOf(key);
    clients.set(id, { key, room, count: 0, ok: 0, failed: {}, pending: 0, settled: null });
    rooms[room]?.add(id);
  }

  async onData(id: number, message: Message): Promise<void> {
    const c = clients.get(id);
    const e = endpoint;
    if (c === undefined || e === null) return;
    const text = await message.text();
    c.count++;
    delivered++;
    const space = text.indexOf(' ', 2);
    const seq = space === -1 ? text.slice(2) : text.slice(2, space);
    c.pending++;
    if (text.startsWith('m')) {
      const ids = [id];
      for (const mate of rooms[c.room] ?? []) {
        if (ids.length > 3) break;
        if (mate !== id) ids.push(mate);
      }
      const result = await e.multicast(`m ${c.key} ${seq} ${c.count}`, ids);
      if (result.sent.includes(id)) c.ok++;
      else {
        const code = result.failed.find((f) => f.clientId === id)?.error.code ?? 'none';
        c.failed[code] = (c.failed[code] ?? 0) + 1;
      }
      settle(c);
      return;
    }
    // Not awaited: a client that stops reading must be able to pass the outbound limit.
    void e.send(`r ${seq} ${c.count}${space === -1 ? '' : text.slice(space)}`, id).then((result) => {
      if (result.ok) c.ok++;
      else c.failed[result.error.code] = (c.failed[result.error.code] ?? 0) + 1;
      settle(c);
    });
  }

  async onClose(id: number, code: number): Promise<void> {
    closed++;
    const c = clients.get(id);
    if (c === undefined) return;
    clients.delete(id);
    rooms[c.room]?.delete(id);
    if (c.pending > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 10_000);
        c.settled = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    const info = endpoint?.getLocalInfo(id);
    ledger.push({ key: c.key, read: info?.messages_read ?? -1, delivered: c.count, dropped: info?.messages_dropped ?? -1, ok: c.ok, failed: c.failed, closeCode: code });
  }
}

serveSoak({
  sample: () => {
    const open = endpoint?.getLocalClients().length ?? 0;
    const stats = server?.stats;
    const cs = server?.clusterStats as { gaps?: number; publishFailed?: number } | null | undefined;
    return sampler.take({
      open,
      closing: opened - closed - open,
      delivered,
      dropped: stats?.messagesDropped ?? 0,
      slowCloses: stats?.slowConsumerCloses ?? 0,
      ratePauses: stats?.ratePauses ?? 0,
      gaps: cs?.gaps ?? 0,
      publishFailed: cs?.publishFailed ?? 0,
    });
  },
  broadcast: async ({ bseq }) => {
    if (endpoint === null) throw new Error('not started');
    const result = await endpoint.broadcast(`b ${bseq}`);
    const failed: Record<string, number> = {};
    for (const f of result.failed) failed[f.error.code] = (failed[f.error.code] ?? 0) + 1;
    return { bseq, sent: result.sent.length, failed, unreachedNodes: result.unreachedNodes ?? 0 } satisfies BroadcastOutcome;
  },
  snapshot: snapshotTo,
  ledger: () => {
    const out = ledger;
    ledger = [];
    return out;
  },
});

const options = { ...SERVER_SETTINGS, logger };
if (process.env.SOAK_STANDALONE === '1') {
  const s = createServer(new SoakApp(), { host: '127.0.0.1', port: 0, ...options });
  server = s;
  await s.start();
  const address = s.address();
  process.send?.({ tag: TAG, id: 0, ready: { port: typeof address === 'object' && address !== null ? address.port : 0 } });
  process.on('disconnect', () => void s.stop().finally(() => process.exit(0)));
} else {
  runCluster({
    setup: () => ({
      app: new SoakApp(),
      options,
      attach: (s) => {
        server = s;
      },
    }),
    redis: { url: process.env.SOAK_REDIS_URL ?? 'redis://127.0.0.1:6379', prefix: 'soak' },
  });
}
