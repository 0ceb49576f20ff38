/**
 * Runs one scenario against a real server on 127.0.0.1 (port 0) with the user's app wrapped
 * by the recorder: the steps in order (a connect waits for its 101 or rejection; sends,
 * closes and drops are issued at once), then waits for the clients that ended to be closed,
 * stops the server (twice: `onStop` must still run once) and waits for every client socket.
 */
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';
import type { ServerOptions } from '../options.js';
import type { Logger } from '../runtime/logger.js';
import { createServer } from '../runtime/server.js';
import type { Websocket } from '../types.js';
import { Message } from '../runtime/message.js';
import { HandshakeRejectedError, openClient, type TestClient } from './client.js';
import { MachineWatch, type MachineStep } from './machine.js';
import { describeMessage, describeStep, type ConnectPlan, type Scenario } from './scenario.js';
import { Recorder, type AppRun, type ConnectionEntry, type HookName } from './trace.js';
import { CONNECTION_HEADER, RecordingApp } from './wrap.js';

/** Server options the runner accepts: everything but where it listens (always 127.0.0.1, a free port). */
export type RunServerOptions = Omit<ServerOptions, 'host' | 'port' | 'server'>;

/** What the generic checks need beyond the user-visible trace. */
export interface RunOutcome<A> extends AppRun<A> {
  readonly concurrency: number;
  readonly hasClientMachine: boolean;
  /** `server.start()` rejected: why. */
  readonly startError: string | null;
  /** Sequence numbers of the `server.stop()` steps. */
  readonly stopSteps: readonly number[];
  /** Sequence number of the final `server.stop()` call. */
  readonly finalStopSeq: number;
  /** Sequence number when the final `stop()` resolved, or null if it did not within the bound. */
  readonly stopResolvedSeq: number | null;
  readonly stopBoundMs: number;
  /** Clients `stop()` cut off at `stopTimeoutMs` (`server.stats.stopCut`). */
  readonly stopCut: number;
  /** `getLocalClients()` after stop resolved. */
  readonly clientsAfterStop: readonly number[];
  /** Connections whose client socket was still open 1 s after stop resolved. */
  readonly unclosedAfterStop: readonly string[];
  readonly unhandledRejections: readonly string[];
  /** Per client id: its counters when `onClose` began, or undefined if `getLocalInfo` answered nothing then. */
  readonly infoAtClose: ReadonlyMap<number, CountsAtClose | undefined>;
  /** Per step (1-based): what happened when it ran, e.g. "skipped: client 2 has no open connection". */
  readonly notes: ReadonlyMap<number, string>;
  readonly defaultPath: string;
  /** For an app with a `clientMachine`: what its clients' machines did; else null. */
  readonly machine: MachineOutcome | null;
}

/** The message counters of `getLocalInfo(id)` (C4: delivered + dropped = read). */
export interface CountsAtClose {
  readonly messages_read: number;
  readonly messages_dropped: number;
  readonly messages_rejected: number;
}

/** What the client machines of a run did (see {@link MachineWatch}). */
export interface MachineOutcome {
  /** Each event a message became, as the machine took it, in order. */
  readonly steps: readonly MachineStep[];
  /** Client ids whose machine ended by itself (a final state, or an error). */
  readonly ended: ReadonlySet<number>;
  /** `messages_rejected` of each client when its `onClose` began. */
  readonly rejected: ReadonlyMap<number, number>;
  /** Per connection label: what the app's `decode` makes of each message the client sent (stable JSON), or null where it does not decode. */
  readonly decoded: ReadonlyMap<string, readonly (string | null)[]>;
}

/** JSON with object keys sorted, so two equal events compare equal. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    if (Buffer.isBuffer(v)) return { bytes: v.toString('hex') };
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  });
}

/** What the runtime makes of a message for the machine: the decoded event, or null (undecodable, or a reserved type). */
async function decodeLikeTheRuntime(decode: (message: Message) => unknown, sent: string | Uint8Array): Promise<string | null> {
  const bytes = typeof sent === 'string' ? Buffer.from(sent, 'utf8') : Buffer.from(sent);
  let event: unknown;
  try {
    event = await decode(new Message([bytes], typeof sent !== 'string'));
  } catch {
    return null;
  }
  if (typeof event !== 'object' || event === null || typeof (event as { type?: unknown }).type !== 'string') return null;
  const type = (event as { type: string }).type;
  if ((type.startsWith('wsactor.') && type !== 'wsactor.binary') || type.startsWith('xstate.')) return null;
  return stableJson(event);
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

async function within<T>(promise: Promise<T>, ms: number): Promise<{ ok: true; value: T } | { ok: false }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<{ ok: false }>((resolve) => (timer = setTimeout(() => resolve({ ok: false }), ms)));
  try {
    return await Promise.race([promise.then((value) => ({ ok: true as const, value })), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function until(ready: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!ready()) {
    if (Date.now() > deadline) return false;
    await sleep(2);
  }
  return true;
}

interface Live {
  readonly record: ConnectionEntry;
  /** The client once its upgrade was answered (null: no 101). */
  readonly opened: Promise<TestClient | null>;
}

/** Runs `scenario` against a fresh app from `factory`. Never throws for what the app does: it is all in the outcome. */
export async function runScenario<A extends Websocket<unknown>>(factory: () => A, userOptions: RunServerOptions, scenario: Scenario): Promise<RunOutcome<A>> {
  const rec = new Recorder();
  const app = factory();
  const delays = new Map<string, { onHandshake: number; onOpen: number; onClose: number; onData: number[] }>();
  const delayOf = (hook: HookName, label: string | null, index: number): number => {
    if (hook === 'onStart') return scenario.onStartDelay;
    if (hook === 'onStop') return scenario.onStopDelay;
    const d = label === null ? undefined : delays.get(label);
    if (d === undefined) return 0;
    return hook === 'onData' ? (d.onData[index] ?? 0) : d[hook];
  };
  const config = app.clientMachine;
  const watch =
    config === undefined
      ? null
      : new MachineWatch(config.machine, () => rec.next(), (clientId, text) => rec.add({ kind: 'client', connection: rec.labelOf(clientId) ?? `id ${clientId}`, text }));
  const infoAtClose = new Map<number, CountsAtClose | undefined>();
  let serverRef: { endpoint: { getLocalInfo(id: number): CountsAtClose | undefined } } | null = null;
  const recording = new RecordingApp(app, rec, delayOf, (clientId) => {
    const info = serverRef?.endpoint.getLocalInfo(clientId);
    infoAtClose.set(clientId, info && { messages_read: info.messages_read, messages_dropped: info.messages_dropped, messages_rejected: info.messages_rejected });
  });
  const userLogger = userOptions.logger;
  const logger: Logger = {
    error: (message, error) => {
      rec.server(`logged error: ${message}${error === undefined ? '' : ` (${errorText(error)})`}`);
      userLogger?.error(message, error);
    },
    warn: (message, error) => {
      rec.server(`logged warning: ${message}`);
      userLogger?.warn(message, error);
    },
  };
  const options: ServerOptions = {
    closePeriodMs: 500,
    handshakeTimeoutMs: 3000,
    stopTimeoutMs: 3000,
    ...userOptions,
    ...(scenario.concurrency === undefined ? {} : { concurrency: scenario.concurrency }),
    host: '127.0.0.1',
    port: 0,
    logger,
  };
  if (watch !== null) {
    const user = userOptions.inspect;
    options.inspect = (event) => {
      watch.inspect(event);
      if (typeof user === 'function') user(event);
      else user?.next?.(event);
    };
  }
  const server = createServer(recording.websocket(), options);
  serverRef = server;
  if (watch !== null) watch.endpoint = server.endpoint;
  server.lifecycle.subscribe((event) => {
    if (event.kind === 'connection' && event.from === null) recording.admitted(event.clientId);
  });
  const unhandled: string[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(errorText(reason));
    rec.server(`unhandled rejection: ${errorText(reason)}`);
  };
  process.on('unhandledRejection', onUnhandled);
  const stopBoundMs = (options.stopTimeoutMs ?? 5000) + 2000;
  const connectTimeoutMs = (options.handshakeTimeoutMs ?? 10_000) + 1000;
  const defaultPath = options.path ?? '/';
  const notes = new Map<number, string>();
  const stopSteps: number[] = [];
  const live = new Map<number, Live>();
  const clients = new Map<string, TestClient>();
  let startError: string | null = null;
  let stopping: Promise<void> | null = null;

  const started = await within(
    server.start().then(
      () => null,
      (error: unknown) => errorText(error),
    ),
    10_000,
  );
  startError = started.ok ? started.value : 'server.start() did not settle within 10 s';
  const address = server.address();
  if (startError === null && address !== null) {
    rec.server(`server listening on 127.0.0.1:${address.port}`);
    const url = `ws://127.0.0.1:${address.port}/`;
    /** Opens a generated connection and records how its upgrade was answered; never rejects. */
    const openConnection = async (record: ConnectionEntry, plan: ConnectPlan, n: number): Promise<TestClient | null> => {
      const { label } = record;
      try {
        const client = await openClient(
          url,
          { ...plan, path: plan.path ?? defaultPath, headers: { ...plan.headers, [CONNECTION_HEADER]: label }, timeoutMs: connectTimeoutMs },
          {
            message: (message) => {
              record.received.push(message);
              rec.add({ kind: 'client', connection: label, text: `received ${describeMessage(message.isBinary ? message.data : message.text)}` });
            },
            close: (info) => {
              record.closed = info;
              rec.add({ kind: 'client', connection: label, text: `connection closed: ${info.code}${info.reason === '' ? '' : ` ${JSON.stringify(info.reason)}`}` });
            },
          },
        );
        clients.set(label, client);
        record.outcome = 'open';
        rec.add({ kind: 'client', connection: label, text: `got 101${record.clientId === null ? '' : ` (server id ${record.clientId})`}` });
        return client;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (error instanceof HandshakeRejectedError) {
          record.outcome = 'rejected';
          record.status = error.status;
        } else if (code === 'ECONNREFUSED') {
          record.outcome = 'refused';
        } else if (error instanceof Error && /timed out/i.test(error.message)) {
          record.outcome = 'timeout';
        }
        const what = record.outcome === 'rejected' ? `rejected with ${record.status ?? '?'}` : record.outcome === 'timeout' ? `no answer within ${connectTimeoutMs} ms` : errorText(error);
        notes.set(n, what);
        rec.add({ kind: 'client', connection: label, text: `upgrade failed: ${what}` });
        return null;
      }
    };
    const count = new Map<number, number>();
    for (const [i, step] of scenario.steps.entries()) {
      const n = i + 1;
      rec.add({ kind: 'step', step: n, text: describeStep(step, defaultPath) });
      if (step.kind === 'wait') {
        await sleep(step.ms);
        continue;
      }
      if (step.kind === 'stop') {
        stopSteps.push(rec.server('server.stop() called'));
        stopping ??= server.stop();
        continue;
      }
      if (step.kind === 'connect') {
        const k = (count.get(step.client) ?? 0) + 1;
        count.set(step.client, k);
        const label = k === 1 ? `${step.client}` : `${step.client}#${k}`;
        const record: ConnectionEntry = {
          label,
          client: step.client,
          step: n,
          plan: step.plan,
          clientId: null,
          outcome: 'failed',
          status: null,
          sent: [],
          received: [],
          ended: null,
          closed: null,
          afterStop: stopSteps.length > 0,
        };
        rec.connections.push(record);
        delays.set(label, { ...step.delays, onData: [] });
        const previous = live.get(step.client);
        // This client's own steps stay in order: a connect still pending is answered first.
        const before = previous === undefined ? null : await previous.opened;
        if (previous !== undefined && before?.isOpen === true) notes.set(n, `a new connection (${label}); ${previous.record.label} stays open`);
        const opened = openConnection(record, step.plan, n);
        live.set(step.client, { record, opened });
        if (step.overlap !== true) await opened;
        continue;
      }
      const current = live.get(step.client);
      const client = await current?.opened;
      if (current === undefined || client === null || client === undefined || !client.isOpen) {
        notes.set(n, `skipped: client ${step.client} has no open connection`);
        continue;
      }
      const { record } = current;
      if (step.kind === 'send') {
        delays.get(record.label)?.onData.push(step.onDataDelay);
        record.sent.push({ message: step.message, step: n, seq: rec.next() });
        if (typeof step.message === 'string') client.send(step.message);
        else client.sendBinary(step.message);
      } else if (step.kind === 'close') {
        record.ended = { how: 'close', code: step.code, reason: step.reason, step: n, seq: rec.next() };
        void client.close(step.code ?? undefined, step.reason);
      } else {
        record.ended = { how: 'drop', code: null, reason: '', step: n, seq: rec.next() };
        client.drop();
      }
      if (record.label !== `${step.client}`) notes.set(n, `on connection ${record.label}`);
      // Lets the sockets move between steps without adding time.
      await tick();
    }
    await Promise.all([...live.values()].map((l) => l.opened));
    // The clients that ended are closed before the final stop, so it does not race their ending.
    const ended = rec.connections.filter((c) => c.outcome === 'open' && c.ended !== null);
    await until(() => ended.every((c) => rec.hookCalls.some((h) => h.hook === 'onClose' && h.clientId === c.clientId)), (options.closePeriodMs ?? 3000) + 1000);
  }

  const finalStopSeq = rec.server('the test calls server.stop() twice and awaits it (end of scenario)');
  const stopped = await within(Promise.all([stopping ?? server.stop(), server.stop()]), stopBoundMs);
  const stopResolvedSeq = stopped.ok ? rec.server('server.stop() resolved') : null;
  if (!stopped.ok) rec.server(`server.stop() did not resolve within ${stopBoundMs} ms`);
  const clientsAfterStop = server.endpoint.getLocalClients();
  await within(Promise.all([...clients.values()].map((c) => c.closed)), 1000);
  const unclosedAfterStop = [...clients].filter(([, c]) => c.closeInfo === null).map(([label]) => label);
  for (const client of clients.values()) client.drop();
  // Rejections surface after the microtask queue drained.
  await tick();
  await tick();
  process.off('unhandledRejection', onUnhandled);

  let machine: MachineOutcome | null = null;
  if (watch !== null && config !== undefined) {
    const decoded = new Map<string, (string | null)[]>();
    for (const connection of rec.connections) {
      const list: (string | null)[] = [];
      for (const sent of connection.sent) list.push(await decodeLikeTheRuntime(config.decode, sent.message));
      decoded.set(connection.label, list);
    }
    const rejected = new Map([...infoAtClose].flatMap(([id, counts]) => (counts === undefined ? [] : [[id, counts.messages_rejected] as const])));
    machine = { steps: watch.steps, ended: watch.ended, rejected, decoded };
  }

  return {
    app,
    scenario,
    connections: rec.connections,
    hookCalls: rec.hookCalls,
    endpointCalls: rec.endpointCalls,
    events: rec.events,
    machineSteps: machine?.steps ?? [],
    connectionOf: (clientId) => rec.connectionOf(clientId),
    concurrency: options.concurrency ?? 1,
    hasClientMachine: app.clientMachine !== undefined,
    startError,
    stopSteps,
    finalStopSeq,
    stopResolvedSeq,
    stopBoundMs,
    stopCut: server.stats.stopCut,
    clientsAfterStop,
    unclosedAfterStop,
    unhandledRejections: unhandled,
    infoAtClose,
    notes,
    defaultPath,
    machine,
  };
}
