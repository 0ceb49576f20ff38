/**
 * Runs one generated scenario against a real server on 127.0.0.1 with real `ws` clients and
 * records every hook call (start and settle) plus what each client saw on the wire.
 */
import { createServer as createNetServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { createServer, type Endpoint, type HandshakeRequest, type HandshakeResponse, type Message, type Websocket } from '../../src/index.js';
import { parsePayload, payloadFor, type ClientPlan, type Scenario } from './scenario.js';

/** Hook calls, plus `appClose`: the app called `endpoint.close` (a marker, not a hook). */
export type Hook = 'onStart' | 'onHandshake' | 'onOpen' | 'onData' | 'onClose' | 'onStop' | 'appClose';

export interface HookRecord {
  seq: number;
  phase: 'start' | 'end';
  hook: Hook;
  /** Plan index of the client (from the handshake query), or -1 for the late client. */
  index: number | null;
  clientId: number | null;
  /** onData: the `i:j` id of the message (null if corrupt); onClose: code. */
  payloadId?: string | null;
  code?: number;
  reason?: string;
  threw?: boolean;
  info?: { messages_read: number; messages_dropped: number };
  lateSendOk?: boolean;
}

export interface ClientOutcome {
  index: number;
  connected: boolean;
  opened: boolean;
  rejectedStatus: number | null;
  refused: boolean;
  /** The TCP connection was reset before any HTTP answer (listener closing). */
  reset: boolean;
  sent: string[];
  /** seq when the client began its ending (close/drop), null if silent. */
  endSeq: number | null;
  closeCode: number | null;
  closeReason: string;
  closedSeq: number | null;
}

export interface ScenarioResult {
  records: HookRecord[];
  clients: ClientOutcome[];
  late: ClientOutcome | null;
  stopCalledSeq: number | null;
  stopResolvedSeq: number;
  /** Violations the app itself observed (endpoint threw, unknown-id send succeeded, ...). */
  appViolations: string[];
  clientsAfterStop: number[];
  unclosedClientsAfterStop: number;
}

const silentLogger = { error: () => undefined, warn: () => undefined };

class Sequencer {
  #seq = 0;
  next(): number {
    return ++this.#seq;
  }
}

async function freePort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const address = srv.address();
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

class RecordingApp implements Websocket<{ index: number }> {
  readonly records: HookRecord[] = [];
  readonly violations: string[] = [];
  readonly indexById = new Map<number, number>();
  readonly dataCount = new Map<number, number>();
  endpoint: Endpoint | null = null;

  constructor(
    private readonly scenario: Scenario,
    private readonly seq: Sequencer,
  ) {}

  #plan(index: number): ClientPlan | undefined {
    return this.scenario.clients[index];
  }

  #record(entry: Omit<HookRecord, 'seq'>): void {
    this.records.push({ seq: this.seq.next(), ...entry });
  }

  #guard<T>(what: string, call: () => T): T | undefined {
    try {
      return call();
    } catch (error) {
      this.violations.push(`${what} threw synchronously: ${String(error)}`);
      return undefined;
    }
  }

  async onStart(endpoint: Endpoint): Promise<void> {
    this.#record({ phase: 'start', hook: 'onStart', index: null, clientId: null });
    await sleep(this.scenario.startDelayMs);
    this.endpoint = endpoint;
    this.#record({ phase: 'end', hook: 'onStart', index: null, clientId: null });
  }

  async onHandshake(request: HandshakeRequest, response: HandshakeResponse): Promise<{ index: number }> {
    const index = Number(request.query.get('c'));
    this.#record({ phase: 'start', hook: 'onHandshake', index, clientId: null });
    const plan = this.#plan(index);
    try {
      await sleep(plan?.handshakeDelayMs ?? 0);
      if (plan?.failure.hook === 'onHandshake') throw new Error('planned onHandshake failure');
      if (plan?.reject === true) response.reject(403, 'rejected by plan');
      this.#record({ phase: 'end', hook: 'onHandshake', index, clientId: null });
      return { index };
    } catch (error) {
      this.#record({ phase: 'end', hook: 'onHandshake', index, clientId: null, threw: true });
      throw error;
    }
  }

  async onOpen(clientId: number, data: { index: number }): Promise<void> {
    this.indexById.set(clientId, data.index);
    this.#record({ phase: 'start', hook: 'onOpen', index: data.index, clientId });
    const plan = this.#plan(data.index);
    await sleep(plan?.openDelayMs ?? 0);
    const threw = plan?.failure.hook === 'onOpen';
    this.#record({ phase: 'end', hook: 'onOpen', index: data.index, clientId, threw });
    if (threw) throw new Error('planned onOpen failure');
  }

  async onData(clientId: number, message: Message): Promise<void> {
    const index = this.indexById.get(clientId) ?? null;
    const payloadId = parsePayload(await message.buffer(), message.isBinary);
    this.#record({ phase: 'start', hook: 'onData', index, clientId, payloadId });
    const plan = index === null ? undefined : this.#plan(index);
    const count = this.dataCount.get(clientId) ?? 0;
    this.dataCount.set(clientId, count + 1);
    const endpoint = this.endpoint as Endpoint;
    const unknown = await this.#guard('send to unknown id', () => endpoint.send('x', 2 ** 40));
    if (unknown?.ok === true) this.violations.push('send to an unknown id succeeded');
    if (plan?.appCloseAt === count) {
      this.#record({ phase: 'start', hook: 'appClose', index, clientId, code: 4100 + count });
      void this.#guard('endpoint.close', () => endpoint.close(clientId, 4100 + count, 'closed by app'));
    }
    await sleep(plan?.dataDelayMs ?? 0);
    const threw = plan?.failure.hook === 'onData' && plan.failure.at === count;
    this.#record({ phase: 'end', hook: 'onData', index, clientId, payloadId, threw });
    if (threw) throw new Error('planned onData failure');
  }

  async onClose(clientId: number, code: number, reason: string): Promise<void> {
    const index = this.indexById.get(clientId) ?? null;
    const endpoint = this.endpoint as Endpoint;
    const info = this.#guard('getLocalInfo', () => endpoint.getLocalInfo(clientId));
    const late = await this.#guard('send in onClose', () => endpoint.send('too late', clientId));
    this.#record({
      phase: 'start',
      hook: 'onClose',
      index,
      clientId,
      code,
      reason,
      lateSendOk: late?.ok === true,
      ...(info === undefined ? {} : { info: { messages_read: info.messages_read, messages_dropped: info.messages_dropped } }),
    });
    const plan = index === null ? undefined : this.#plan(index);
    await sleep(plan?.closeDelayMs ?? 0);
    const threw = plan?.failure.hook === 'onClose';
    this.#record({ phase: 'end', hook: 'onClose', index, clientId, code, threw });
    if (threw) throw new Error('planned onClose failure');
  }

  async onStop(): Promise<void> {
    this.#record({ phase: 'start', hook: 'onStop', index: null, clientId: null });
    await sleep(this.scenario.stopDelayMs);
    this.#record({ phase: 'end', hook: 'onStop', index: null, clientId: null });
  }
}

function newOutcome(index: number): ClientOutcome {
  return {
    index,
    connected: false,
    opened: false,
    rejectedStatus: null,
    refused: false,
    reset: false,
    sent: [],
    endSeq: null,
    closeCode: null,
    closeReason: '',
    closedSeq: null,
  };
}

/** Opens a client; retries while the port is not yet listening (the server may be in onStart). */
async function connect(url: string, outcome: ClientOutcome, seq: Sequencer, canRetry: () => boolean): Promise<WebSocket | null> {
  for (;;) {
    const ws = new WebSocket(url);
    const result = await new Promise<'open' | 'refused' | 'rejected' | 'error'>((resolve) => {
      ws.on('open', () => resolve('open'));
      ws.on('unexpected-response', (req, res) => {
        outcome.rejectedStatus = res.statusCode ?? 0;
        req.destroy();
        resolve('rejected');
      });
      ws.on('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED' ? 'refused' : 'error'));
      ws.on('close', (code, reason) => {
        outcome.closeCode = code;
        outcome.closeReason = reason.toString('utf8');
        outcome.closedSeq = seq.next();
      });
    });
    if (result === 'open') {
      outcome.connected = true;
      outcome.opened = true;
      return ws;
    }
    if (result === 'refused' && canRetry()) {
      await sleep(2);
      continue;
    }
    outcome.refused = result === 'refused';
    outcome.reset = result === 'error';
    outcome.connected = result === 'rejected';
    return null;
  }
}

function closedPromise(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => ws.once('close', () => resolve()));
}

async function runClient(
  index: number,
  plan: ClientPlan,
  url: string,
  seq: Sequencer,
  outcome: ClientOutcome,
  canRetry: () => boolean,
): Promise<WebSocket | null> {
  await sleep(plan.startDelayMs);
  const ws = await connect(`${url}/?c=${index}`, outcome, seq, canRetry);
  if (ws === null) return null;
  for (const [j, planned] of plan.messages.entries()) {
    if (ws.readyState !== WebSocket.OPEN) break;
    ws.send(payloadFor(index, j, planned));
    outcome.sent.push(`${index}:${j}`);
    if (plan.gapMs > 0) await sleep(plan.gapMs);
  }
  await sleep(plan.endDelayMs);
  if (ws.readyState !== WebSocket.OPEN || plan.ending.kind === 'silent') return ws;
  outcome.endSeq = seq.next();
  if (plan.ending.kind === 'close') ws.close(plan.ending.code, plan.ending.reason);
  else if (plan.ending.kind === 'emptyClose') ws.close();
  else ws.terminate();
  return ws;
}

async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function runScenario(scenario: Scenario): Promise<ScenarioResult> {
  const seq = new Sequencer();
  const app = new RecordingApp(scenario, seq);
  const port = await freePort();
  const server = createServer(app, {
    host: '127.0.0.1',
    port,
    closePeriodMs: 300,
    concurrency: scenario.concurrency,
    logger: silentLogger,
  });
  const url = `ws://127.0.0.1:${port}`;
  // Clients start connecting while onStart may still run: nothing may be accepted before it settled.
  const started = server.start();
  let listening = false;
  const deadline = Date.now() + 3000;
  const canRetry = (): boolean => !listening && Date.now() < deadline;
  void started.then(() => (listening = true));
  const outcomes = scenario.clients.map((_, i) => newOutcome(i));
  const sockets = scenario.clients.map((plan, i) => runClient(i, plan, url, seq, outcomes[i] as ClientOutcome, canRetry));
  let stopCalledSeq: number | null = null;
  let late: ClientOutcome | null = null;
  let lateDone: Promise<unknown> = Promise.resolve();
  const earlyStop =
    scenario.stopAtMs === null
      ? Promise.resolve()
      : started.then(async () => {
          await sleep(scenario.stopAtMs ?? 0);
          stopCalledSeq ??= seq.next();
          const stopping = server.stop();
          if (scenario.lateClient) {
            late = newOutcome(-1);
            lateDone = connect(`${url}/?c=-1`, late, seq, () => false).then((ws) => ws?.terminate());
          }
          await stopping;
        });

  await within(started, 3000, 'server.start()');
  const clients = await within(Promise.all(sockets), 6000, 'clients');
  // Let the server see every ending before the final stop, so the stop does not race them.
  const ended = outcomes.filter((o) => o.opened && o.endSeq !== null).map((o) => o.index);
  await within(
    (async () => {
      while (ended.some((i) => !app.records.some((r) => r.hook === 'onClose' && r.index === i))) await sleep(2);
    })(),
    3000,
    'onClose of clients that ended',
  ).catch(() => undefined);
  await within(earlyStop, 6000, 'early stop');
  stopCalledSeq ??= seq.next();
  await within(server.stop(), 6000, 'server.stop()');
  const stopResolvedSeq = seq.next();
  const clientsAfterStop = server.endpoint.getLocalClients();
  await within(lateDone, 3000, 'late client');
  const open = clients.filter((ws): ws is WebSocket => ws !== null);
  await within(Promise.all(open.map(closedPromise)), 2000, 'client sockets closing after stop').catch(() => undefined);
  const unclosedClientsAfterStop = open.filter((ws) => ws.readyState !== WebSocket.CLOSED).length;
  for (const ws of open) ws.terminate();
  return {
    records: app.records,
    clients: outcomes,
    late,
    stopCalledSeq,
    stopResolvedSeq,
    appViolations: app.violations,
    clientsAfterStop,
    unclosedClientsAfterStop,
  };
}
