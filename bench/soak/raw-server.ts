/**
 * The soak's raw `ws` baseline (`--server raw`): the same app as server.ts (per-client key,
 * room and count; echo, multicast to up to 3 room mates, broadcast on command) on a plain
 * `WebSocketServer`, with the usual ping/terminate heartbeat every `heartbeatMs`. No rate or
 * outbound limit (raw `ws` has none). Alone (SOAK_STANDALONE=1) or as a node:cluster worker.
 */
import { WebSocketServer, type WebSocket } from 'ws';
import { roomOf, Sampler, SERVER_SETTINGS, serveSoak, snapshotTo, TAG, WORKER_HEADER, type LedgerEntry } from './protocol.js';

interface Client {
  key: string;
  room: number;
  read: number;
  count: number;
  ok: number;
  failed: Record<string, number>;
  pending: number;
  alive: boolean;
  settled: (() => void) | null;
}

const sampler = new Sampler();
const clients = new Map<WebSocket, Client>();
const rooms = Array.from({ length: 64 }, () => new Set<WebSocket>());
let ledger: LedgerEntry[] = [];
let opened = 0;
let closed = 0;
let delivered = 0;

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
wss.on('headers', (headers) => headers.push(`${WORKER_HEADER}: ${process.pid}`));

function reply(ws: WebSocket, c: Client, data: string): void {
  c.pending++;
  ws.send(data, (error) => {
    if (error === undefined || error === null) c.ok++;
    else c.failed[error.message] = (c.failed[error.message] ?? 0) + 1;
    if (--c.pending === 0) c.settled?.();
  });
}

wss.on('connection', (ws, request) => {
  opened++;
  const key = new URL(request.url ?? '/', 'http://x').searchParams.get('k') ?? '?';
  const c: Client = { key, room: roomOf(key), read: 0, count: 0, ok: 0, failed: {}, pending: 0, alive: true, settled: null };
  clients.set(ws, c);
  rooms[c.room]?.add(ws);
  ws.on('error', () => undefined);
  ws.on('pong', () => void (c.alive = true));
  ws.on('message', (data: Buffer) => {
    c.read++;
    c.count++;
    delivered++;
    const text = data.toString();
    const space = text.indexOf(' ', 2);
    const seq = space === -1 ? text.slice(2) : text.slice(2, space);
    if (text.startsWith('m')) {
      const payload = `m ${c.key} ${seq} ${c.count}`;
      reply(ws, c, payload);
      let mates = 0;
      for (const mate of rooms[c.room] ?? []) {
        if (mates >= 3) break;
        if (mate !== ws) {
          mate.send(payload);
          mates++;
        }
      }
      return;
    }
    reply(ws, c, `r ${seq} ${c.count}${space === -1 ? '' : text.slice(space)}`);
  });
  ws.on('close', (code: number) => {
    closed++;
    clients.delete(ws);
    rooms[c.room]?.delete(ws);
    const done = (): void => void ledger.push({ key: c.key, read: c.read, delivered: c.count, dropped: 0, ok: c.ok, failed: c.failed, closeCode: code });
    if (c.pending === 0) done();
    else {
      const timer = setTimeout(done, 10_000);
      c.settled = () => {
        clearTimeout(timer);
        done();
      };
    }
  });
});

// The usual heartbeat: ping everyone every period; one that did not answer the last ping is terminated.
setInterval(() => {
  for (const [ws, c] of clients) {
    if (!c.alive) {
      ws.terminate();
      continue;
    }
    c.alive = false;
    ws.ping();
  }
}, SERVER_SETTINGS.heartbeatMs).unref();

serveSoak({
  sample: () => {
    let open = 0;
    for (const ws of wss.clients) if (ws.readyState === ws.OPEN) open++;
    return sampler.take({ open, closing: opened - closed - open, delivered, dropped: 0, slowCloses: 0, ratePauses: 0, gaps: 0, publishFailed: 0 });
  },
  broadcast: ({ bseq }) => {
    const data = Buffer.from(`b ${bseq}`);
    let sent = 0;
    for (const ws of wss.clients) {
      if (ws.readyState !== ws.OPEN) continue;
      ws.send(data, { binary: false });
      sent++;
    }
    return { bseq, sent, failed: {}, unreachedNodes: 0 };
  },
  snapshot: snapshotTo,
  ledger: () => {
    const out = ledger;
    ledger = [];
    return out;
  },
});

wss.on('listening', () => {
  const address = wss.address();
  if (process.env.SOAK_STANDALONE === '1') process.send?.({ tag: TAG, id: 0, ready: { port: typeof address === 'object' && address !== null ? address.port : 0 } });
});
process.on('disconnect', () => process.exit(0));
