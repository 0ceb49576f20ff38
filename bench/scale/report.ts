/** The scale bench's final table (Markdown, pasteable into the README) and its small JSON file. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fmt, type BroadcastRun, type ConnectResult, type IdleCpu } from './phases.js';

export interface WorkerRow {
  workerId: number;
  nodeId: number;
  pid: number;
  connections: number;
}

export interface ScaleResults {
  connections: number;
  clients: number;
  inflight: number;
  connect: Omit<ConnectResult, 'perWorker'>;
  workers: WorkerRow[];
  memory: {
    rssBefore: number;
    rssAfter: number;
    heapBefore: number;
    heapAfter: number;
    rssPerConn: number;
    heapPerConn: number;
    /** Per connection again once the broadcasts went out (after GC). */
    rssAfterBroadcasts: number;
    heapAfterBroadcasts: number;
  };
  getClients: { count: number; ms: number };
  /** Cores busy while everyone is idle, with that heartbeat period. */
  idleCpu: IdleCpu & { heartbeatMs: number };
  /** Node id of the worker that ran the broadcasts. */
  broadcastNode: number;
  broadcasts: BroadcastRun[];
  /** Cluster stop with everyone connected, and the close codes the clients saw. */
  stop: { ms: number; closeCodes: Record<string, number> };
}

/** The raw `ws` run (`--server raw`, `--baseline`): what it shares with the wsactor run. */
export interface RawResults {
  connections: number;
  connect: ConnectResult;
  workers: WorkerRow[];
  rssPerConn: number;
  heapPerConn: number;
  broadcasts: BroadcastRun[];
  /** Per broadcast, each worker's send loop over `wss.clients`. */
  loopMs: number[][];
}

const kib = (bytes: number): string => `${(bytes / 1024).toFixed(2)} KiB`;
const ms = (n: number): string => `${fmt(n)} ms`;

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

type Nodes = readonly { pid: number; nodeId: number }[];

/** Worker label `n<node id>`, found by pid. */
function nodeLabel(nodes: Nodes, pid: string): string {
  const w = nodes.find((x) => String(x.pid) === pid);
  return w === undefined ? `pid ${pid}` : `n${w.nodeId}`;
}

/** Where one broadcast's time went: the sender's own clients, then those of the other workers (through Redis). */
export function spread(nodes: Nodes, run: BroadcastRun): string {
  if (run.reply.pid === 0) {
    // raw `ws`: every worker sends to its own clients, no sender
    const all = Object.values(run.byWorkerMs);
    const lasts = all.map((t) => t.last).sort((a, b) => a - b);
    return `each worker's clients: first receipts from ${ms(Math.min(...all.map((t) => t.first)))}, last ones from ${ms(lasts[0] ?? 0)} to ${ms(lasts[lasts.length - 1] ?? 0)}`;
  }
  const sender = run.byWorkerMs[String(run.reply.pid)];
  const others = Object.entries(run.byWorkerMs).filter(([pid]) => Number(pid) !== run.reply.pid);
  const slowest = others.sort((a, b) => b[1].last - a[1].last)[0];
  const mine = sender === undefined ? 'none' : `${ms(sender.first)} to ${ms(sender.last)}`;
  if (slowest === undefined) return `the sender's clients got it from ${mine}`;
  const firstRemote = Math.min(...others.map(([, t]) => t.first));
  return `sender's clients ${mine}; other workers' from ${ms(firstRemote)} to ${ms(slowest[1].last)} (${nodeLabel(nodes, slowest[0])})`;
}

/** What the clients saw against what `endpoint.broadcast` said, for one broadcast. */
function delivery(b: BroadcastRun, i: number): string {
  const { sent, distinctSent, failed, unreachedNodes } = b.reply;
  return `#${i + 1} received by ${fmt(b.received)} (${fmt(b.duplicates)} duplicates), result: sent ${fmt(sent)}${distinctSent === sent ? '' : ` (${fmt(distinctSent)} distinct)`}, failed ${fmt(failed)}, unreached nodes ${unreachedNodes}`;
}

export function table(r: ScaleResults): string {
  const counts = r.workers.map((w) => w.connections);
  const mean = r.connections / r.workers.length;
  const imbalance = Math.max(...counts.map((c) => Math.abs(c - mean))) / mean;
  const times = r.broadcasts.map((b) => b.ms);
  const allOk = r.broadcasts.every((b) => b.reply.sent === r.connections && b.reply.distinctSent === r.connections && b.received === r.connections && b.duplicates === 0 && b.reply.failed === 0 && b.reply.unreachedNodes === 0);
  const rows: [string, string][] = [
    ['connections', `${fmt(r.connections)} on ${r.workers.length} workers (one cluster, Redis adapter), from ${r.clients} client processes`],
    ['time to connect all', `${fmt(r.connect.ms / 1000, 1)} s = ${fmt(r.connect.perSecond)} conn/s (${r.inflight} handshakes in flight per client process; ${fmt(r.connect.failedAttempts)} failed attempts retried)`],
    ['RSS per connection', `${kib(r.memory.rssPerConn)} (worker RSS sum ${fmt(r.memory.rssBefore / 2 ** 20)} → ${fmt(r.memory.rssAfter / 2 ** 20)} MiB); ${kib(r.memory.rssAfterBroadcasts)} after the broadcasts`],
    ['V8 heap per connection (after GC)', `${kib(r.memory.heapPerConn)} (heap sum ${fmt(r.memory.heapBefore / 2 ** 20)} → ${fmt(r.memory.heapAfter / 2 ** 20)} MiB); ${kib(r.memory.heapAfterBroadcasts)} after the broadcasts`],
    ...r.broadcasts.map((b, i): [string, string] => [`broadcast ${i + 1} to all`, `${ms(b.ms)} (broadcast() resolved after ${ms(b.resolvedMs)}); ${spread(r.workers, b)}`]),
    ['broadcast, median', `${ms(median(times))} (target < 1,000 ms${median(times) < 1000 ? ', met' : ', MISSED'})`],
    ['delivery check', allOk ? `each broadcast: every connection got it exactly once; result: sent ${fmt(r.connections)}, failed 0, unreached nodes 0` : `MISMATCH: ${r.broadcasts.map(delivery).join('; ')}`],
    ['per-worker connections', `${r.workers.map((w) => `n${w.nodeId} ${fmt(w.connections)}`).join(' · ')} (max ±${(imbalance * 100).toFixed(1)} %)`],
    ['CPU while idle', `workers ${r.idleCpu.workers.toFixed(2)} cores (kernel ${r.idleCpu.workersSystem.toFixed(2)}), client processes ${r.idleCpu.clients.toFixed(2)}; heartbeatMs ${fmt(r.idleCpu.heartbeatMs)}`],
    ['getClients() cluster-wide', `${fmt(r.getClients.count)} ids in ${ms(r.getClients.ms)}`],
    ['cluster stop, all connected', `${fmt(r.stop.ms / 1000, 1)} s; close codes seen: ${Object.entries(r.stop.closeCodes).map(([code, n]) => `${code} ×${fmt(n)}`).join(', ')}`],
  ];
  return ['| metric | value |', '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join('\n');
}

export function rawLines(r: RawResults): string {
  const times = r.broadcasts.map((b) => b.ms);
  const ok = r.broadcasts.every((b) => b.received === r.connections && b.duplicates === 0 && b.reply.sent === r.connections);
  return [
    `raw ws (node:cluster, ${r.workers.length} workers, minimal WebSocketServer): ${fmt(r.connections)} connected in ${fmt(r.connect.ms / 1000, 1)} s; ${kib(r.rssPerConn)} RSS, ${kib(r.heapPerConn)} heap per connection`,
    ...r.broadcasts.map((b, i) => `raw ws broadcast ${i + 1}: ${ms(b.ms)} (send loops ${(r.loopMs[i] ?? []).map((t) => fmt(t)).join(', ')} ms); ${spread(r.workers, b)}`),
    `raw ws broadcast, median: ${ms(median(times))}; ${ok ? 'every connection got each exactly once' : `MISMATCH: ${r.broadcasts.map(delivery).join('; ')}`}`,
  ].join('\n');
}

const round = (n: number): number => Math.round(n * 10) / 10;

export function rawJson(r: RawResults): Record<string, unknown> {
  return {
    connect: { ms: Math.round(r.connect.ms), perSecond: Math.round(r.connect.perSecond) },
    perWorker: r.workers.map((w) => w.connections),
    rssPerConn: Math.round(r.rssPerConn),
    heapPerConn: Math.round(r.heapPerConn),
    broadcasts: r.broadcasts.map((b, i) => ({ ms: round(b.ms), loopsDoneMs: round(b.resolvedMs), loopMs: (r.loopMs[i] ?? []).map(round), sent: b.reply.sent, received: b.received, duplicates: b.duplicates, byClientMs: b.byClientMs.map(round) })),
    broadcastMedianMs: round(median(r.broadcasts.map((b) => b.ms))),
  };
}

export function writeJson(file: string, body: Record<string, unknown>): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(body, null, 1)}\n`);
}

/** A few KB: the figures above plus each broadcast's per-worker and per-client-process times. */
export function writeResults(file: string, r: ScaleResults, extra: Record<string, unknown>): void {
  const broadcasts = r.broadcasts.map((b) => ({
    ms: round(b.ms),
    resolvedMs: round(b.resolvedMs),
    sent: b.reply.sent,
    distinctSent: b.reply.distinctSent,
    failed: b.reply.failed,
    unreachedNodes: b.reply.unreachedNodes,
    received: b.received,
    duplicates: b.duplicates,
    byNodeMs: Object.fromEntries(Object.entries(b.byWorkerMs).map(([pid, t]) => [nodeLabel(r.workers, pid), { first: round(t.first), last: round(t.last) }])),
    byClientMs: b.byClientMs.map(round),
  }));
  const body = {
    ...extra,
    connections: r.connections,
    clients: r.clients,
    inflight: r.inflight,
    connect: { ms: Math.round(r.connect.ms), perSecond: Math.round(r.connect.perSecond), serverMs: Math.round(r.connect.serverMs), failedAttempts: r.connect.failedAttempts },
    workers: r.workers,
    memory: Object.fromEntries(Object.entries(r.memory).map(([k, v]) => [k, Math.round(v)])),
    getClients: { count: r.getClients.count, ms: round(r.getClients.ms) },
    idleCpu: Object.fromEntries(Object.entries(r.idleCpu).map(([k, v]) => [k, Math.round(v * 1000) / 1000])),
    broadcastNode: r.broadcastNode,
    broadcasts,
    broadcastMedianMs: round(median(r.broadcasts.map((b) => b.ms))),
    stop: { ms: Math.round(r.stop.ms), closeCodes: r.stop.closeCodes },
  };
  writeJson(file, body);
}
