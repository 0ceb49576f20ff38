/**
 * One soak client process (compiled, plain node): keeps `target` clients open from its own
 * loopback source addresses, each sending `rate` messages a second (80% echo, 20% multicast),
 * churns `churn` of them a second (60% clean close after its answers came, 25% TCP reset
 * with messages in flight, 15% silent: answers drained, then neither reading nor sending
 * until the server's heartbeat gives up on it), and, in the process with `hostile`, a
 * garbage-frame client, a client that stops reading while it sends large messages, and a
 * sender over the server's rate limit. Every answer is checked against the client's own
 * sequence numbers; the records go to the orchestrator at the end.
 */
import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import { serve } from '../lib/ipc.js';
import { clientOptions, sleep } from '../lib/protocol.js';
import { WORKER_HEADER, type ClientCommands, type ClientRecord, type ClientTotals, type LoadPlan } from './protocol.js';

type Kind = 'normal' | 'burst' | 'hostile';
type State = 'connecting' | 'active' | 'draining' | 'silent' | 'closing' | 'done';

const TICK_MS = 100;
const MAX_INFLIGHT = 64;
const DRAIN_MS = 5000;
const MAX_GAPS_KEPT = 20;

class Conn {
  readonly rec: ClientRecord;
  readonly ws: WebSocket;
  state: State = 'connecting';
  acc = Math.random();
  drained: (() => void) | null = null;
  closed: (() => void) | null = null;

  constructor(
    readonly kind: Kind,
    key: string,
    url: string,
    address: string,
    opened: (ok: boolean) => void,
  ) {
    this.rec = { key, mode: kind === 'burst' ? 'burst' : 'final', worker: '?', sent: 0, answered: 0, orderErrors: 0, stateErrors: 0, bReceived: 0, bFirst: 0, bLast: 0, bGaps: [], bOrderErrors: 0, closeCode: 0, timedOut: false };
    if (marking) this.rec.stopped = true;
    all.add(this);
    const ws = (this.ws = new WebSocket(`${url}?k=${key}`, { ...clientOptions(address), handshakeTimeout: 15_000, maxPayload: 1 << 20 }));
    ws.once('upgrade', (res) => {
      const header = res.headers[WORKER_HEADER];
      if (typeof header === 'string') this.rec.worker = header;
    });
    ws.on('error', () => undefined);
    ws.once('open', () => {
      this.state = 'active';
      opened(true);
    });
    ws.on('message', (data: Buffer) => this.onMessage(data));
    ws.once('close', (code: number) => {
      const wasOpen = this.state !== 'connecting';
      this.state = 'done';
      all.delete(this);
      this.rec.closeCode = code;
      if (!wasOpen) opened(false);
      else ended(this);
      this.drained?.();
      this.closed?.();
    });
  }

  /** Re-read after an await (TypeScript keeps the narrowed state across it). */
  get done(): boolean {
    return this.state === 'done';
  }

  get socket(): Socket | undefined {
    return (this.ws as unknown as { _socket?: Socket })._socket;
  }

  send(pad = ''): void {
    const seq = ++this.rec.sent;
    totals.sent++;
    this.ws.send(`${pad === '' && Math.random() < 0.2 ? 'm' : 'e'} ${seq}${pad}`);
  }

  onMessage(data: Buffer): void {
    const head = data.toString('latin1', 0, Math.min(data.length, 80)).split(' ');
    const r = this.rec;
    if (head[0] === 'b') {
      const b = Number(head[1]);
      totals.broadcasts++;
      r.bReceived++;
      if (r.bFirst === 0) r.bFirst = b;
      else if (b > r.bLast + 1) {
        for (let g = r.bLast + 1; g < b && r.bGaps.length < MAX_GAPS_KEPT; g++) r.bGaps.push(g);
      } else if (b <= r.bLast) r.bOrderErrors++;
      r.bLast = Math.max(r.bLast, b);
      return;
    }
    let seq: number;
    let count: number;
    if (head[0] === 'r') {
      seq = Number(head[1]);
      count = Number(head[2]);
    } else if (head[0] === 'm') {
      if (head[1] !== r.key) return; // a room mate's multicast
      seq = Number(head[2]);
      count = Number(head[3]);
    } else {
      r.orderErrors++;
      return;
    }
    if (seq === r.answered + 1) {
      r.answered++;
      totals.answered++;
    } else r.orderErrors++;
    if (count !== seq) r.stateErrors++;
    if (r.answered >= r.sent) this.drained?.();
  }

  /** Stops sending and waits (bounded) until every message sent was answered. */
  async drain(): Promise<void> {
    if (this.state === 'done') return;
    this.state = 'draining';
    if (this.rec.answered >= this.rec.sent) return;
    const ok = await Promise.race([new Promise<boolean>((resolve) => (this.drained = () => resolve(true))), sleep(DRAIN_MS).then(() => false)]);
    this.drained = null;
    if (!ok && !this.done) this.rec.timedOut = true;
  }

  /** Waits (bounded) for the close event; destroys the socket if it does not come. */
  async untilClosed(ms: number): Promise<void> {
    if (this.state === 'done') return;
    const ok = await Promise.race([new Promise<boolean>((resolve) => (this.closed = () => resolve(true))), sleep(ms).then(() => false)]);
    if (!ok && !this.done) {
      this.rec.timedOut = true;
      this.rec.clientReset = true;
      this.ws.terminate();
    }
  }

  async closeClean(mode: string): Promise<void> {
    this.rec.mode = mode;
    await this.drain();
    if (this.done) return;
    this.state = 'closing';
    this.ws.close(1000);
    await this.untilClosed(10_000);
  }

  drop(): void {
    this.rec.mode = 'drop';
    this.state = 'closing';
    this.rec.clientReset = true;
    const s = this.socket;
    if (s !== undefined && typeof s.resetAndDestroy === 'function') s.resetAndDestroy();
    else this.ws.terminate();
  }

  async silent(holdMs: number): Promise<void> {
    this.rec.mode = 'silent';
    await this.drain();
    if (this.done) return;
    this.state = 'silent';
    this.socket?.pause();
    await sleep(holdMs);
    if (!this.done) {
      this.state = 'closing';
      this.rec.clientReset = true;
      this.ws.terminate();
    }
  }
}

let plan: LoadPlan | null = null;
/** Every client not yet closed (connecting included): the ones a SIGSTOP catches. */
const all = new Set<Conn>();
/** Between stopMark and resumed: new clients are marked stopped too. */
let marking = false;
let url = '';
let nextKey = 0;
let nextAddress = 0;
let inflight = 0;
let running = false;
const normals = new Set<Conn>();
const active: Conn[] = [];
const live = new Set<Conn>();
const records: ClientRecord[] = [];
const background = new Set<Promise<void>>();
const totals: ClientTotals = { open: 0, opened: 0, connectFailures: 0, sent: 0, answered: 0, broadcasts: 0, closesByMode: {}, closeCodes: {} };

function ended(c: Conn): void {
  totals.open--;
  live.delete(c);
  normals.delete(c);
  records.push(c.rec);
  totals.closesByMode[c.rec.mode] = (totals.closesByMode[c.rec.mode] ?? 0) + 1;
  totals.closeCodes[c.rec.closeCode] = (totals.closeCodes[c.rec.closeCode] ?? 0) + 1;
}

function track(p: Promise<void>): void {
  background.add(p);
  void p.finally(() => background.delete(p));
}

function open(kind: Kind): Promise<Conn | null> {
  if (plan === null) return Promise.resolve(null);
  const address = plan.addresses[nextAddress++ % plan.addresses.length] ?? '127.0.0.1';
  inflight++;
  return new Promise((resolve) => {
    const c: Conn = new Conn(kind, `${plan?.prefix}${nextKey++}`, url, address, (ok) => {
      inflight--;
      if (ok) {
        totals.open++;
        totals.opened++;
        live.add(c);
        if (kind !== 'hostile') active.push(c);
      } else {
        totals.connectFailures++;
        normals.delete(c);
      }
      resolve(ok ? c : null);
    });
    if (kind === 'normal') normals.add(c);
  });
}

function pickActive(): Conn | undefined {
  for (let tries = 0; tries < 20 && active.length > 0; tries++) {
    const i = Math.floor(Math.random() * active.length);
    const c = active[i];
    if (c !== undefined && c.state === 'active' && c.kind === 'normal') return c;
  }
  return undefined;
}

let churnAcc = 0;
function tick(): void {
  const p = plan;
  if (p === null || !running) return;
  // Keep the target: new clients for the ones that left (churned, dropped by the server, or a worker crash).
  while (normals.size < p.target && inflight < MAX_INFLIGHT) void open('normal');
  // Sending; closed and closing clients leave the active list here.
  let w = 0;
  for (const c of active) {
    if (c.state !== 'active') continue;
    active[w++] = c;
    c.acc += (p.rate * TICK_MS) / 1000;
    while (c.acc >= 1) {
      c.acc--;
      c.send();
    }
  }
  active.length = w;
  churnAcc += (p.churn * TICK_MS) / 1000;
  while (churnAcc >= 1) {
    churnAcc--;
    const c = pickActive();
    if (c === undefined) break;
    normals.delete(c); // its replacement opens on the next tick
    const r = Math.random();
    if (r < 0.6) track(c.closeClean('clean'));
    else if (r < 0.85) c.drop();
    else track(c.silent(p.silentHoldMs));
  }
}

// ---- hostile clients -------------------------------------------------------------------------

function maskedText(text: string): Buffer {
  const payload = Buffer.from(text);
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length, 0, 0, 0, 0]), payload]);
}

/** Three valid messages and a frame with a reserved opcode, in one write. */
async function garbage(): Promise<void> {
  const c = await open('hostile');
  if (c === null) return;
  c.rec.mode = 'garbage';
  c.rec.sent = 3;
  totals.sent += 3;
  c.socket?.write(Buffer.concat([maskedText('e 1'), maskedText('e 2'), maskedText('e 3'), Buffer.from([0x83, 0x80, 0, 0, 0, 0])]));
  await c.untilClosed(10_000);
}

/** Stops reading, sends 128 KiB messages for 2.5 s (about 30 MiB), reads again; the server's outbound limit should close it. */
async function slowReader(mode = 'slow', sendMs = 2500): Promise<void> {
  const c = await open('hostile');
  if (c === null) return;
  c.rec.mode = mode;
  if (marking) c.rec.stopped = true;
  c.socket?.pause();
  const pad = ` ${'x'.repeat(128 * 1024)}`;
  const until = performance.now() + sendMs;
  for (let i = 0; i < 400 && c.state === 'active' && performance.now() < until; i++) {
    c.send(pad);
    await sleep(8);
  }
  c.socket?.resume();
  await c.closeClean(mode);
}

/** 400 messages in bursts of 50 every 20 ms (over the server's 100/s limit), then all answers, then a clean close. */
async function flooder(): Promise<void> {
  const c = await open('hostile');
  if (c === null) return;
  c.rec.mode = 'flood';
  for (let i = 0; i < 8 && c.state === 'active'; i++) {
    for (let j = 0; j < 50; j++) c.send();
    await sleep(20);
  }
  await c.drain();
  await c.closeClean('flood');
}

const timers: NodeJS.Timeout[] = [];

serve<ClientCommands>({
  start: (p) => {
    plan = p;
    url = `ws://127.0.0.1:${p.port}/`;
    running = true;
    timers.push(setInterval(tick, TICK_MS));
    if (p.hostile) {
      timers.push(setInterval(() => track(garbage()), 7000));
      timers.push(setInterval(() => track(slowReader()), 20_000));
      timers.push(setInterval(() => track(flooder()), 15_000));
    }
    return null;
  },
  totals: () => totals,
  stopMark: async ({ big, bigLeadMs }) => {
    marking = true;
    for (const c of all) c.rec.stopped = true;
    // Not awaited: they are still sending when the process stops.
    for (let i = 0; i < big; i++) track(slowReader('stopped-slow', 1500));
    await sleep(bigLeadMs);
    for (const c of all) c.rec.stopped = true;
    return { pid: process.pid, marked: all.size };
  },
  resumed: () => {
    marking = false;
    return { open: totals.open };
  },
  burst: async ({ n, holdMs }) => {
    const started = performance.now();
    const conns = await Promise.all(Array.from({ length: n }, () => open('burst')));
    const ms = performance.now() - started;
    const ok = conns.filter((c): c is Conn => c !== null);
    track(sleep(holdMs).then(() => Promise.all(ok.map((c) => c.closeClean('burst'))).then(() => undefined)));
    return { opened: ok.length, failed: n - ok.length, ms };
  },
  finish: async ({ drainMs }) => {
    running = false;
    for (const t of timers) clearInterval(t);
    const deadline = sleep(drainMs);
    await Promise.race([Promise.all([...live].map((c) => (c.state === 'active' ? c.closeClean('final') : Promise.resolve()))), deadline]);
    await Promise.race([Promise.allSettled([...background]), sleep(2000)]);
    for (const c of live) {
      c.rec.timedOut = true;
      c.rec.clientReset = true;
      c.ws.terminate();
    }
    await sleep(200);
    return records;
  },
});
