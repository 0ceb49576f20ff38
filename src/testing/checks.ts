/**
 * The lifecycle contract (docs/lifecycle.md, C1–C5, S1–S3) in the generic form that holds for
 * any app, checked over a recorded run: only what the generated clients did and saw, the hook
 * calls and the app's Endpoint calls are used, never what the app is expected to answer. Each
 * violation is a sentence that names the client, the hook and the message.
 */
import { describeMessage } from './scenario.js';
import type { ConnectionRecord, EndpointCall, HookCall, HookName } from './trace.js';
import { checkMachine } from './machine-checks.js';
import type { RunOutcome } from './run.js';

/** One broken rule: which (`C3`, `S2`, `hook threw`, `invariant "..."`), for which connection, and what happened. */
export interface Violation {
  readonly rule: string;
  /** The connection (`"2"`, `"2#2"`), or null for the server as a whole. */
  readonly connection: string | null;
  readonly text: string;
}

/** A hook that threw or rejected, as `allowHookError` sees it. */
export interface HookFailure {
  readonly hook: HookName;
  /** The connection (`"2"`), or null for onStart/onStop. */
  readonly connection: string | null;
  /** The error, as text (`TypeError: ...`). */
  readonly error: string;
}

/** How the generic checks are tuned (see `CheckAppOptions`). */
export interface CheckSettings {
  readonly allowHookError: (failure: HookFailure) => boolean;
  readonly allowDetachedWork: boolean;
}

/** Codes a server closes with by itself (protocol errors and limits), which need no act of the app. */
const SERVER_CODES = new Set([1002, 1003, 1007, 1008, 1009]);
/** Statuses the upgrade gate answers before it looks at whether the server runs (bad request, wrong path). */
const BEFORE_RUNNING_CHECK = new Set([400, 404]);

/** `client 2`, or `client 2#2` for its second connection. */
export function clientName(label: string | null): string {
  return label === null ? 'the server' : `client ${label}`;
}

function hookName(call: HookCall): string {
  const who = call.connection === null ? '' : ` of ${clientName(call.connection)}`;
  if (call.hook === 'onData' && call.index !== null) {
    const message = call.message === null ? '' : ` ${describeMessage(call.message.isBinary ? call.message.data : call.message.data.toString('utf8'), call.message.isBinary)}`;
    return `onData${who} (message ${call.index + 1}:${message})`;
  }
  return `${call.hook}${who}`;
}

function endpointCallName(call: EndpointCall): string {
  const target = call.clientIds === null ? ' to everyone' : call.clientIds.length === 0 ? ' to nobody' : ` to ${call.clientIds.join(', ')}`;
  return `endpoint.${call.method}(${call.preview}${call.method === 'close' ? `, code ${call.code ?? 1000}` : ''})${target}`;
}

function sameMessage(call: HookCall, sent: ConnectionRecord['sent'][number]): boolean {
  if (call.message === null) return false;
  const isBinary = typeof sent.message !== 'string';
  if (call.message.isBinary !== isBinary) return false;
  const bytes = typeof sent.message === 'string' ? Buffer.from(sent.message, 'utf8') : Buffer.from(sent.message);
  return call.message.data.equals(bytes);
}

/** Every generic violation of the run, in a stable order: server-wide first, then per connection. */
export function checkRun(run: RunOutcome<unknown>, settings: CheckSettings): Violation[] {
  const v: Violation[] = [];
  const add = (rule: string, connection: string | null, text: string): void => void v.push({ rule, connection, text });
  const calls = (hook: HookName): HookCall[] => run.hookCalls.filter((c) => c.hook === hook);

  for (const call of run.hookCalls) {
    if (call.error !== null && !settings.allowHookError({ hook: call.hook, connection: call.connection, error: call.error })) {
      add('hook threw', call.connection, `${hookName(call)} threw ${call.error}`);
    }
  }
  if (run.startError !== null) {
    add('S1', null, `server.start() rejected: ${run.startError}`);
    return v;
  }
  for (const reason of run.unhandledRejections) add('unhandled rejection', null, `an unhandled promise rejection during the run: ${reason}`);
  for (const call of run.endpointCalls) {
    if (call.threw !== null) add('S3', null, `${endpointCallName(call)} ${call.threw} (Endpoint calls never throw or reject)`);
  }

  // S1: onStart once, settled before the first handshake.
  const starts = calls('onStart');
  const firstHandshake = calls('onHandshake')[0];
  if (starts.length !== 1) add('S1', null, `onStart was called ${starts.length} times`);
  else if (firstHandshake !== undefined && (starts[0]?.endSeq ?? Infinity) > firstHandshake.startSeq) {
    add('S1', null, `onHandshake of ${clientName(firstHandshake.connection)} started before onStart settled`);
  }

  // S2: onStop once; stop() resolves after every onClose; nothing left open.
  const stops = calls('onStop');
  if (stops.length !== 1) add('S2', null, `onStop was called ${stops.length} times (stop() was called ${run.stopSteps.length + 2} times)`);
  const hung = run.hookCalls.filter((c) => c.endSeq === null);
  if (run.stopResolvedSeq === null) {
    add('S2', null, `server.stop() did not resolve within ${run.stopBoundMs} ms; hooks still running: ${hung.map(hookName).join('; ') || 'none'}`);
  } else {
    for (const close of calls('onClose')) {
      if (close.endSeq !== null && close.endSeq > run.stopResolvedSeq) add('S2', close.connection, `onClose of ${clientName(close.connection)} settled after stop() resolved`);
    }
    if (run.stopCut > 0) {
      add('S2', null, `stop() cut ${run.stopCut} client(s) off at stopTimeoutMs: a hook did not settle in time (${hung.map(hookName).join('; ') || 'it settled later'})`);
    }
    if (run.clientsAfterStop.length > 0) add('S2', null, `getLocalClients() after stop() resolved: ${run.clientsAfterStop.join(', ')}`);
    for (const label of run.unclosedAfterStop) add('S2', label, `the socket of ${clientName(label)} was still open 1 s after stop() resolved`);
  }

  // Each Endpoint call made by work that outlived its hook is reported once, under the first rule it breaks.
  const flagged = new Set<EndpointCall>();
  for (const connection of run.connections) {
    for (const text of checkConnection(run, connection, settings, flagged)) add(text.rule, connection.label, text.text);
  }
  const stopResolved = run.stopResolvedSeq;
  if (!settings.allowDetachedWork && stopResolved !== null) {
    const late = run.endpointCalls.find((call) => call.calledSeq > stopResolved && !flagged.has(call));
    if (late !== undefined) {
      const by = late.from === null ? 'code outside any hook' : `the work of ${hookName(late.from)}`;
      add('S2', late.from?.connection ?? null, `${by} called ${endpointCallName(late)} after stop() resolved: ${late.from === null ? 'a timer or task outlived the server' : detachedWhy(late.from)} (clear timers in onClose/onStop)`);
    }
  }
  return v;
}

/** Why work of `call` could still run after it returned. */
function detachedWhy(call: HookCall): string {
  return call.hook === 'onData'
    ? 'onData returned before its work was done (a promise not awaited?)'
    : `${call.hook} returned while its work went on (a timer, or a promise not awaited?)`;
}

function checkConnection(
  run: RunOutcome<unknown>,
  record: ConnectionRecord,
  settings: CheckSettings,
  flagged: Set<EndpointCall>,
): { rule: string; text: string }[] {
  const v: { rule: string; text: string }[] = [];
  const add = (rule: string, text: string): void => void v.push({ rule, text });
  const name = clientName(record.label);
  const mine = run.hookCalls.filter((c) => c.connection === record.label);
  const of = (hook: HookName): HookCall[] => mine.filter((c) => c.hook === hook);
  const handshakes = of('onHandshake');
  const opens = of('onOpen');
  const opened = record.outcome === 'open';

  if (record.afterStop) {
    if (opened) add('S2', `${name} connected after server.stop() was called and got a 101 (expected 503 or a refused connection)`);
    if (handshakes.length > 0) add('S2', `onHandshake ran for ${name}, which connected after server.stop() was called`);
    const status = record.status;
    if (status !== null && status !== 503 && !BEFORE_RUNNING_CHECK.has(status)) {
      add('S2', `${name} connected after server.stop() was called and got ${status} (expected 503 or a refused connection)`);
    }
  }
  if (record.outcome === 'timeout') add('C2', `the upgrade of ${name} got no answer (neither a 101 nor a status) before the client gave up`);
  if (handshakes.length > 1) add('C2', `onHandshake ran ${handshakes.length} times for ${name}`);
  if (opened && opens.length === 0) add('C2', `${name} got its 101 but onOpen was never called`);
  if (!opened && opens.length > 0) {
    const saw = record.outcome === 'rejected' ? `a ${record.status ?? '?'} rejection` : `no 101 (${record.outcome})`;
    add('C2', `onOpen was called for ${name}, but the client saw ${saw}`);
  }
  const open = opens[0];
  const closes = of('onClose');
  if (open === undefined) {
    if (closes.length > 0) add('C2', `onClose was called for ${name}, which never got onOpen`);
    if (of('onData').length > 0) add('C1', `onData was called for ${name}, which never got onOpen`);
    return v;
  }
  if (opens.length > 1) add('C2', `onOpen was called ${opens.length} times for ${name}`);
  const handshake = handshakes[0];
  if (handshake === undefined || handshake.endSeq === null || handshake.endSeq > open.startSeq) add('C1', `onOpen of ${name} started before its onHandshake settled`);
  if (run.stopResolvedSeq !== null && closes.length !== 1) {
    add('C2', `onClose was called ${closes.length} times for ${name} (expected exactly once, as it got onOpen)`);
  }
  const close = closes[0];
  const datas = of('onData').sort((a, b) => a.startSeq - b.startSeq);
  const openEnd = open.endSeq ?? Infinity;

  // C1: order.
  for (const data of datas) {
    if (data.startSeq < openEnd) add('C1', `${hookName(data)} started before onOpen settled`);
    if (close !== undefined && (data.endSeq ?? Infinity) > close.startSeq) add('C1', `onClose of ${name} began while ${hookName(data)} was still running`);
  }
  if (close !== undefined) {
    if (close.startSeq < openEnd) add('C1', `onClose of ${name} began before onOpen settled`);
    const closeEnd = close.endSeq ?? Infinity;
    for (const call of mine) {
      if (call !== close && call.startSeq > closeEnd) add('C1', `${hookName(call)} ran after onClose settled`);
    }
  }

  // C3: one at a time (or `concurrency` at once), in the order sent, intact.
  const limit = run.concurrency;
  let active = 0;
  const running: HookCall[] = [];
  const edges = datas.flatMap((d) => [
    { seq: d.startSeq, call: d, start: true },
    { seq: d.endSeq ?? Infinity, call: d, start: false },
  ]);
  for (const edge of edges.sort((a, b) => a.seq - b.seq)) {
    if (!edge.start) {
      active--;
      running.splice(running.indexOf(edge.call), 1);
      continue;
    }
    active++;
    if (active > limit) {
      add('C3', `${hookName(edge.call)} started while ${running.map(hookName).join(' and ')} was still running (concurrency ${limit})`);
      break;
    }
    running.push(edge.call);
  }
  // With a client machine, messages go to the machine, not to onData: nothing to compare.
  for (const [k, data] of run.hasClientMachine ? [] : datas.entries()) {
    const sent = record.sent[k];
    if (sent === undefined) {
      add('C3', `${hookName(data)}: the client sent only ${record.sent.length} message(s)`);
      break;
    }
    if (!sameMessage(data, sent)) {
      add('C3', `${hookName(data)} is not message ${k + 1} the client sent (${describeMessage(sent.message)}, step ${sent.step}): out of order or altered`);
      break;
    }
  }

  const threw = mine.some((c) => (c.hook === 'onOpen' || c.hook === 'onData') && c.error !== null);
  const id = record.clientId;
  const appCloses = run.endpointCalls.filter((c) => c.method === 'close' && id !== null && c.clientIds?.[0] === id && c.sent.length > 0);
  const ended = record.ended;
  const peerCode = ended === null ? null : ended.how === 'drop' ? 1006 : (ended.code ?? 1005);

  if (close !== undefined && close.close !== null) {
    const { code, reason } = close.close;
    // C4: a peer close (its code reached onClose) delivers everything sent before it.
    const deliveryKnown = !run.hasClientMachine && run.stopCut === 0;
    if (deliveryKnown && ended?.how === 'close' && code === peerCode && !threw && appCloses.length === 0 && datas.length < record.sent.length) {
      const lost = record.sent[datas.length];
      add(
        'C4',
        `${name} sent ${record.sent.length} message(s), then closed with ${code}, but onData got only ${datas.length}` +
          (lost === undefined ? '' : ` (message ${datas.length + 1}, ${describeMessage(lost.message)} of step ${lost.step}, never arrived)`),
      );
    }
    // C4 and S3 by the counters getLocalInfo gave as onClose began (it answers until onClose settled).
    const counts = id === null ? undefined : run.infoAtClose.get(id);
    if (id !== null && counts === undefined) add('S3', `getLocalInfo(${id}) answered nothing as onClose of ${name} began`);
    if (counts !== undefined && !run.hasClientMachine) {
      const { messages_read: read, messages_dropped: dropped } = counts;
      if (datas.length + dropped !== read) add('C4', `onData got ${datas.length} message(s) of ${name} and ${dropped} were dropped, but ${read} were read (messages_read)`);
      if (dropped > 0 && ended !== null && code === peerCode && !threw && appCloses.length === 0 && run.stopCut === 0) {
        add('C4', `${name} ${ended.how === 'drop' ? 'dropped the connection' : `closed with ${code}`}, yet ${dropped} message(s) were dropped instead of delivered`);
      }
    }
    // S2: stop() closes the clients (1001) only after onStop settled.
    const onStopEnd = run.hookCalls.find((c) => c.hook === 'onStop')?.endSeq ?? Infinity;
    if (code === 1001 && peerCode !== 1001 && !run.hasClientMachine && !appCloses.some((c) => c.code === 1001) && close.startSeq < onStopEnd) {
      add('S2', `onClose of ${name} got 1001 (server.stop()) before onStop settled`);
    }
    // C5: the code is explained by what the client, the app, a hook failure or the server did.
    const seen = record.closed;
    // A stop() called before onClose began may have begun the close (also a stop right after the client's own close: they race).
    const stoppedBefore = [...run.stopSteps, run.finalStopSeq].some((seq) => seq < close.startSeq);
    const explained = new Map<number, string>();
    if (peerCode !== null) explained.set(peerCode, ended?.how === 'drop' ? 'the client dropped' : 'the client closed');
    if (stoppedBefore) explained.set(1001, 'server.stop()');
    if (threw) explained.set(1011, 'a hook threw');
    for (const call of appCloses) explained.set(call.code ?? 1000, 'the app called endpoint.close');
    if (run.stopCut > 0) explained.set(1006, 'stop() cut it off');
    // wsactor closes by itself on protocol errors and limits; a client machine closes with codes of its own.
    if (SERVER_CODES.has(code)) explained.set(code, 'wsactor closed it (a protocol error or a limit)');
    if (run.hasClientMachine && (seen === null || seen.code === code || ended?.how === 'drop')) explained.set(code, 'the client machine closed it');
    if (!explained.has(code)) {
      const causes = [...explained].map(([c, why]) => `${why}: ${c}`).join('; ');
      add('C5', `onClose of ${name} got code ${code}, which nothing in the run explains (${causes || 'no close, drop, stop, app close or hook failure'})`);
    }
    if (ended?.how !== 'drop' && seen !== null && seen.code !== 1006 && seen.code !== code) {
      add('C5', `${name} saw close code ${seen.code} but onClose got ${code}`);
    }
    if (ended?.how === 'close' && ended.code !== null && code === ended.code && explained.get(code) === 'the client closed' && reason !== ended.reason) {
      add('C5', `onClose of ${name} got reason ${JSON.stringify(reason)}, the client closed with ${JSON.stringify(ended.reason)}`);
    }
  }

  if (run.machine !== null && id !== null) v.push(...checkMachine(run, record, close?.close ?? null, threw || appCloses.length > 0));

  // S3: nothing sent to this client after its close began (onClose started, or an app close resolved ok) succeeds.
  if (id !== null) {
    const closedAt = Math.min(close?.startSeq ?? Infinity, ...appCloses.map((c) => c.settledSeq ?? Infinity));
    for (const call of run.endpointCalls) {
      if (call.calledSeq > closedAt && call.method !== 'close' && call.sent.includes(id)) {
        add('S3', `${endpointCallName(call)} was called after the close of ${name} began, yet reported it sent`);
      }
    }
  }

  // The app's own work stays inside its hooks: C3 and C1 hold for what the app does only then.
  if (!settings.allowDetachedWork) {
    const byMe = run.endpointCalls.filter((c) => c.from !== null && c.from.connection === record.label);
    if (limit === 1) {
      for (const [k, data] of datas.entries()) {
        const next = datas[k + 1];
        // Only work after its onData returned: a call before that, with the next one already
        // started, is the server overlapping two onData calls (reported as such above).
        const late =
          next === undefined ? undefined : byMe.find((c) => c.from === data && c.calledSeq > next.startSeq && data.endSeq !== null && c.calledSeq > data.endSeq);
        if (late !== undefined && next !== undefined) {
          flagged.add(late);
          add(
            'C3',
            `the work of ${hookName(data)} was still running when ${hookName(next)} started: it called ${endpointCallName(late)} after onData had returned ` +
              `(a promise not awaited?), so the handling of the two messages interleaved`,
          );
          break;
        }
      }
    }
    // Work of onOpen/onData after onClose began; work of onClose after it settled.
    const afterClose =
      close === undefined
        ? undefined
        : byMe.find((c) => !flagged.has(c) && (c.from === close ? c.calledSeq > (close.endSeq ?? Infinity) : c.calledSeq > close.startSeq));
    if (close !== undefined && afterClose !== undefined && afterClose.from !== null) {
      flagged.add(afterClose);
      const when = afterClose.from === close ? 'after onClose settled' : `after onClose of ${name} began`;
      add('C1', `the work of ${hookName(afterClose.from)} called ${endpointCallName(afterClose)} ${when}: ${detachedWhy(afterClose.from)}`);
    }
  }
  return v;
}
