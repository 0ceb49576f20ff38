/**
 * The failure report: what broke, how to replay it, the shrunk scenario as numbered steps a
 * person can follow (with what each step led to), and the trace of hooks, Endpoint calls and
 * what the clients saw.
 */
import { clientName, type Violation } from './checks.js';
import { describeMessage, describeStep } from './scenario.js';
import type { RunOutcome } from './run.js';
import type { HookCall, TraceEvent } from './trace.js';

/** How the failing scenario was found. */
export interface FailureContext {
  readonly seed: number;
  readonly path: string;
  /** Runs before the first failure (including it). */
  readonly runs: number;
  readonly shrinks: number;
}

const MAX_TRACE_LINES = 220;

function who(call: HookCall): string {
  const parts: string[] = [];
  if (call.connection !== null) parts.push(clientName(call.connection));
  if (call.clientId !== null) parts.push(`id ${call.clientId}`);
  return parts.length === 0 ? '' : `(${parts.join(', ')})`;
}

function hookStart(call: HookCall): string {
  let detail = '';
  if (call.hook === 'onData' && call.message !== null) {
    const { data, isBinary } = call.message;
    detail = ` message ${(call.index ?? 0) + 1}: ${describeMessage(isBinary ? data : data.toString('utf8'), isBinary)}`;
  } else if (call.hook === 'onClose' && call.close !== null) {
    detail = ` code ${call.close.code}${call.close.reason === '' ? '' : ` ${JSON.stringify(call.close.reason)}`}`;
  } else if (call.hook === 'onHandshake' && call.url !== null) {
    detail = ` GET ${call.url}`;
  }
  const delay = call.delayMs > 0 ? ` [kit waits ${call.delayMs} ms first]` : '';
  return `${call.hook}${who(call)} starts${detail}${delay}`;
}

function hookEnd(call: HookCall): string {
  return `${call.hook}${who(call)} ${call.error === null ? 'settled' : `THREW ${call.error}`}`;
}

function eventLine(event: TraceEvent): string {
  const at = event.atMs.toFixed(1).padStart(7);
  let text: string;
  switch (event.kind) {
    case 'step':
      text = `-- step ${event.step}: ${event.text}`;
      break;
    case 'hook-start':
      text = hookStart(event.call);
      break;
    case 'hook-end':
      text = hookEnd(event.call);
      break;
    case 'endpoint-call': {
      const { call } = event;
      const target = call.clientIds === null ? ' to everyone' : call.clientIds.length === 0 ? ' to nobody' : ` to ${call.clientIds.join(', ')}`;
      const by = call.from === null ? 'outside any hook' : `by ${call.from.hook}${who(call.from)}`;
      text = `   endpoint.${call.method}(${call.preview}${call.method === 'close' ? `, ${call.code ?? 1000}` : ''})${target}, ${by}`;
      break;
    }
    case 'endpoint-result': {
      const { call } = event;
      const parts: string[] = [];
      if (call.threw !== null) parts.push(call.threw);
      if (call.sent.length > 0) parts.push(`ok for ${call.sent.join(', ')}`);
      if (call.failed.length > 0) parts.push(`failed for ${call.failed.map((f) => `${f.clientId} (${f.code})`).join(', ')}`);
      text = `   endpoint.${call.method} -> ${parts.join('; ') || 'nobody to send to'}`;
      break;
    }
    case 'client':
      text = `${clientName(event.connection)}: ${event.text}`;
      break;
    case 'server':
      text = `server: ${event.text}`;
      break;
  }
  return `${at}  ${text}`;
}

/** What a step led to, for the numbered list. */
function outcomeOf(run: RunOutcome<unknown>, step: number): string {
  const note = run.notes.get(step);
  const connection = run.connections.find((c) => c.step === step);
  if (connection !== undefined && connection.outcome === 'open') {
    const id = connection.clientId === null ? '' : `, server id ${connection.clientId}`;
    return `  -> 101${id}${connection.label === `${connection.client}` ? '' : ` (connection ${connection.label})`}${note === undefined ? '' : `; ${note}`}`;
  }
  return note === undefined ? '' : `  -> ${note}`;
}

/** The scenario as numbered steps, each with what it led to. */
export function formatSteps(run: RunOutcome<unknown>): string[] {
  const { onStartDelay, onStopDelay, concurrency } = run.scenario;
  const start = run.startError === null ? '' : `  -> start() rejected: ${run.startError}`;
  const options = concurrency === undefined ? '' : `, with concurrency ${concurrency}`;
  return [
    `  0. the test starts the server on 127.0.0.1, a free port${options}${onStartDelay > 0 ? ` [kit delays onStart ${onStartDelay} ms]` : ''}${start}`,
    ...run.scenario.steps.map((step, i) => `  ${i + 1}. ${describeStep(step, run.defaultPath)}${outcomeOf(run, i + 1)}`),
    `  ${run.scenario.steps.length + 1}. the test calls server.stop() and awaits it (every scenario ends so)${onStopDelay > 0 ? ` [kit delays onStop ${onStopDelay} ms]` : ''}`,
  ];
}

/** The trace, clipped in the middle when long. */
export function formatTrace(events: readonly TraceEvent[]): string[] {
  const lines = events.map(eventLine);
  if (lines.length <= MAX_TRACE_LINES) return lines;
  const head = 80;
  const tail = MAX_TRACE_LINES - head;
  return [...lines.slice(0, head), `    ... ${lines.length - MAX_TRACE_LINES} lines left out ...`, ...lines.slice(-tail)];
}

/** The whole message of the failure. */
export function formatFailure(run: RunOutcome<unknown>, violations: readonly Violation[], context: FailureContext): string {
  const broken = violations.map((v, i) => `  ${i + 1}) [${v.rule}]${v.connection === null ? '' : ` ${clientName(v.connection)}:`} ${v.text}`);
  return [
    `wsactor/testing: the app broke ${violations.length === 1 ? 'a rule' : `${violations.length} rules`} in a generated scenario` +
      ` (found after ${context.runs} run${context.runs === 1 ? '' : 's'}, shrunk ${context.shrinks} time${context.shrinks === 1 ? '' : 's'}).`,
    '',
    'What went wrong:',
    ...broken,
    '',
    `Replay it: checkApp({ ..., seed: ${context.seed}, path: ${JSON.stringify(context.path)} })`,
    `       or: FC_SEED=${context.seed} FC_PATH=${context.path} npx vitest run <this test file> -t '<this test>'`,
    '',
    'The scenario, step by step (client N is one user; "client 2#2" is its second connection):',
    ...formatSteps(run),
    '',
    'The trace (ms since the run began; "id" is the server client id):',
    ...formatTrace(run.events),
  ].join('\n');
}
