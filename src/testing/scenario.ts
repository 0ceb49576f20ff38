/**
 * What the property runner generates: a scenario is a list of numbered steps done by the
 * clients, one after the other (each connect waits for its answer; sends, closes and drops are
 * issued at once), plus delays the kit waits before calling the app's real hooks. This module
 * builds the fast-check arbitrary and prints steps as sentences a person can follow.
 */
import type fcDefault from 'fast-check';
import type { Arbitrary } from 'fast-check';
import type { ConnectOptions } from './client.js';

/** The fast-check module (loaded when the runner starts: fast-check is an optional peer). */
export type FastCheck = typeof fcDefault;

/** A message a client sends: a string is a text frame, bytes are a binary frame. */
export type ClientMessage = string | Uint8Array;

/** Where and how a generated client connects (the {@link ConnectOptions} of the test client, without its timeout). */
export type ConnectPlan = Omit<ConnectOptions, 'timeoutMs'>;

/** Milliseconds the kit waits before calling the app's real hook, for one connection (0: none). */
export interface HookDelays {
  readonly onHandshake: number;
  readonly onOpen: number;
  readonly onClose: number;
}

/**
 * One step of a scenario. `client` numbers a user (1, 2, ...); a user who connects again opens
 * a new connection. A connect with `overlap` does not hold up the steps after it (so handshakes
 * overlap, and a stop may come while one is pending); that client's own next step still waits.
 */
export type Step =
  | { readonly kind: 'connect'; readonly client: number; readonly plan: ConnectPlan; readonly delays: HookDelays; readonly overlap?: boolean }
  | { readonly kind: 'send'; readonly client: number; readonly message: ClientMessage; readonly onDataDelay: number }
  | { readonly kind: 'close'; readonly client: number; readonly code: number | null; readonly reason: string }
  | { readonly kind: 'drop'; readonly client: number }
  | { readonly kind: 'wait'; readonly ms: number }
  | { readonly kind: 'stop' };

/** A generated scenario: the steps, then the server is stopped (always, at the end). */
export interface Scenario {
  readonly steps: readonly Step[];
  /** Delay before the app's real `onStart` / `onStop`. */
  readonly onStartDelay: number;
  readonly onStopDelay: number;
  /** `onData` calls at once per client in this scenario (the server's `concurrency`); absent: the server option. */
  readonly concurrency?: number;
}

/** What shapes the generated scenarios (see `CheckAppOptions`). */
export interface ScenarioShape {
  readonly messages: Arbitrary<ClientMessage>;
  readonly connect: Arbitrary<ConnectPlan>;
  readonly maxClients: number;
  readonly maxSteps: number;
  /** Largest hook delay; 0: no delays. */
  readonly maxHookDelayMs: number;
  /** Generate `server.stop()` steps in the middle of scenarios. */
  readonly stopSteps: boolean;
  /** Message sequences one client sends one after the other (paths through a client machine), or null. */
  readonly paths?: Arbitrary<readonly ClientMessage[]> | null;
  /** Draws each scenario's `concurrency` from this, or leaves it out (null). */
  readonly concurrency?: Arbitrary<number> | null;
  /** Generate client sessions instead of independent steps (see {@link sessionSteps}). */
  readonly sessions?: boolean;
}

/**
 * Close codes clients send: valid codes a peer may send, but never 1001, so that 1001 in
 * `onClose` can only come from `server.stop()`.
 */
function closeCode(fc: FastCheck): Arbitrary<number> {
  return fc.oneof(fc.constantFrom(1000, 1002, 1003, 1007, 1008, 1011), fc.integer({ min: 3000, max: 4999 }));
}

/** The arbitrary of scenarios; shrinking removes steps, lowers client numbers and delays toward 0. */
export function scenarioArbitrary(fc: FastCheck, shape: ScenarioShape): Arbitrary<Scenario> {
  const client = fc.integer({ min: 1, max: Math.max(1, shape.maxClients) });
  const max = shape.maxHookDelayMs;
  // About half are 0; shrinking goes to 0.
  const delay: Arbitrary<number> = max > 0 ? fc.integer({ min: -max, max }).map((ms) => Math.max(0, ms)) : fc.constant(0);
  // Fields a session sets itself; the records keep their key order, so seeds of the step mode replay as before.
  const connectParts = { plan: shape.connect, delays: fc.record({ onHandshake: delay, onOpen: delay, onClose: delay }) };
  const connect = fc.record({ kind: fc.constant('connect' as const), client, ...connectParts });
  const send = fc.record({ kind: fc.constant('send' as const), client, message: shape.messages, onDataDelay: delay });
  const closeParts = {
    code: fc.option(closeCode(fc), { freq: 6, nil: null }),
    reason: fc.oneof({ weight: 3, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.string({ maxLength: 12 }) }),
  };
  const emptyReason = <T extends { code: number | null; reason: string }>(step: T): T => (step.code === null ? { ...step, reason: '' } : step);
  const close = fc.record({ kind: fc.constant('close' as const), client, ...closeParts }).map(emptyReason);
  const drop = fc.record({ kind: fc.constant('drop' as const), client });
  const wait = fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 1, max: 20 }) });
  const stop = fc.constant({ kind: 'stop' as const });
  const step: Arbitrary<Step> = fc.oneof(
    { weight: 6, arbitrary: connect },
    { weight: 12, arbitrary: send },
    { weight: 3, arbitrary: close },
    { weight: 2, arbitrary: drop },
    { weight: 2, arbitrary: wait },
    { weight: shape.stopSteps ? 1 : 0, arbitrary: stop },
  );
  const paths = shape.paths ?? null;
  let steps: Arbitrary<Step[]>;
  if (shape.sessions === true) {
    const ending = fc.oneof(
      { weight: 5, arbitrary: fc.record({ kind: fc.constant('close' as const), ...closeParts }).map(emptyReason) },
      { weight: 2, arbitrary: fc.constant({ kind: 'drop' as const }) },
      { weight: 1, arbitrary: fc.constant(null) },
    );
    const sends: Arbitrary<Session['sends']> = fc.array(fc.record({ gap: fc.nat({ max: 2 }), message: shape.messages, onDataDelay: delay }), {
      maxLength: Math.max(1, Math.floor(shape.maxSteps / Math.max(1, shape.maxClients)) - 2),
    });
    const session = fc.record({
      again: fc.integer({ min: 0, max: 5 }).map((n) => n === 0),
      at: fc.nat({ max: 12 }),
      connect: fc.record({ ...connectParts, overlap: fc.boolean() }),
      // A path through a client machine is sent in a row, from where the machine starts.
      sends: paths === null ? sends : fc.oneof(sends, paths.map((messages) => messages.map((message) => ({ gap: 0, message, onDataDelay: 0 })))),
      end: fc.record({ gap: fc.nat({ max: 3 }), step: ending }),
    });
    steps = fc
      .record({
        sessions: fc.array(session, { minLength: 1, maxLength: Math.max(1, shape.maxClients) }),
        stopAt: shape.stopSteps ? fc.option(fc.nat({ max: 40 }), { freq: 3 }) : fc.constant(null),
        waits: fc.array(fc.record({ at: fc.nat({ max: 40 }), step: wait }), { maxLength: 2 }),
      })
      .map(sessionSteps);
  } else if (paths === null) {
    steps = fc.array(step, { minLength: 1, maxLength: Math.max(1, shape.maxSteps) });
  } else {
    // A path is one client's messages in a row (shrinking drops it whole, or moves to a shorter path).
    // It begins with a connect, so the path starts where the machine starts.
    const path = fc
      .record({ connect, messages: paths })
      .map(({ connect: start, messages }): Step[] => [start, ...messages.map((message): Step => ({ kind: 'send', client: start.client, message, onDataDelay: 0 }))]);
    const group: Arbitrary<Step[]> = fc.oneof({ weight: 4, arbitrary: step.map((s) => [s]) }, { weight: 1, arbitrary: path });
    steps = fc.array(group, { minLength: 1, maxLength: Math.max(1, Math.ceil(shape.maxSteps / 2)) }).map((groups) => groups.flat());
  }
  const fields = { steps: steps.map(renumberClients), onStartDelay: delay, onStopDelay: delay };
  const concurrency = shape.concurrency ?? null;
  return concurrency === null ? fc.record(fields) : fc.record({ ...fields, concurrency });
}

/** A session of one user: it connects, sends, then closes, drops or stays (null). */
interface Session {
  /** Reuse the previous session's user: it connects again. */
  readonly again: boolean;
  readonly at: number;
  readonly connect: Omit<Extract<Step, { kind: 'connect' }>, 'kind' | 'client'>;
  readonly sends: readonly { readonly gap: number; readonly message: ClientMessage; readonly onDataDelay: number }[];
  readonly end: { readonly gap: number; readonly step: { kind: 'close'; code: number | null; reason: string } | { kind: 'drop' } | null };
}

/**
 * Lays the sessions on one timeline (each starts `at`, its steps `gap` apart) with at most one
 * stop and a few waits, and merges them in timeline order. Unlike independent steps, few
 * steps are then skipped for a client that is not connected.
 */
function sessionSteps({ sessions, stopAt, waits }: { sessions: readonly Session[]; stopAt: number | null; waits: readonly { at: number; step: Step }[] }): Step[] {
  const timeline: { at: number; step: Step }[] = [...waits];
  if (stopAt !== null) timeline.push({ at: stopAt, step: { kind: 'stop' } });
  let client = 0;
  for (const session of sessions) {
    if (!session.again || client === 0) client++;
    let at = session.at;
    timeline.push({ at, step: { kind: 'connect', client, ...session.connect } });
    for (const send of session.sends) {
      at += send.gap;
      timeline.push({ at, step: { kind: 'send', client, message: send.message, onDataDelay: send.onDataDelay } });
    }
    if (session.end.step !== null) timeline.push({ at: at + session.end.gap, step: { ...session.end.step, client } });
  }
  // A stable sort: the steps of one session stay in order.
  return timeline.sort((a, b) => a.at - b.at).map(({ step }) => step);
}

/**
 * Numbers clients 1, 2, ... in the order they first appear. A client number only groups
 * steps (the server never sees it), so this changes nothing but makes shrunk scenarios read
 * "client 1" instead of whatever number survived shrinking.
 */
function renumberClients(steps: readonly Step[]): Step[] {
  const numbers = new Map<number, number>();
  return steps.map((step) => {
    if (!('client' in step)) return step;
    let client = numbers.get(step.client);
    if (client === undefined) {
      client = numbers.size + 1;
      numbers.set(step.client, client);
    }
    return { ...step, client };
  });
}

const MAX_PREVIEW = 80;

function clip(text: string): string {
  return text.length <= MAX_PREVIEW ? text : `${text.slice(0, MAX_PREVIEW)}... (${text.length} chars)`;
}

/** A message as a reader sees it: JSON objects and arrays as they are, other text quoted, bytes in hex. */
export function describeMessage(message: ClientMessage | Buffer, isBinary = typeof message !== 'string'): string {
  if (isBinary) {
    const bytes = Buffer.from(message as Uint8Array);
    const hex = [...bytes.subarray(0, 16)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    return `binary [${hex}${bytes.length > 16 ? ' ...' : ''}] (${bytes.length} bytes)`;
  }
  const text = typeof message === 'string' ? message : Buffer.from(message).toString('utf8');
  const trimmed = text.trim();
  if ((trimmed.startsWith('{') && trimmed.endsWith('}')) || (trimmed.startsWith('[') && trimmed.endsWith(']'))) {
    try {
      return clip(JSON.stringify(JSON.parse(trimmed)));
    } catch {
      // not JSON: quoted below
    }
  }
  return clip(JSON.stringify(text));
}

/** The request target and options of a connect plan, as one readable phrase. */
export function describePlan(plan: ConnectPlan, defaultPath: string): string {
  const query = plan.query instanceof URLSearchParams ? plan.query : new URLSearchParams(plan.query ?? {});
  const search = query.toString();
  const parts = [`${plan.path ?? defaultPath}${search === '' ? '' : `?${search}`}`];
  const headers = Object.entries(plan.headers ?? {});
  if (headers.length > 0) parts.push(`headers ${headers.map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(', ')}`);
  const protocols = plan.protocols === undefined ? [] : typeof plan.protocols === 'string' ? [plan.protocols] : plan.protocols;
  if (protocols.length > 0) parts.push(`subprotocols ${protocols.join(', ')}`);
  return parts.join(', ');
}

function delayNote(delays: readonly [string, number][]): string {
  const set = delays.filter(([, ms]) => ms > 0);
  return set.length === 0 ? '' : ` [kit delays ${set.map(([hook, ms]) => `${hook} ${ms} ms`).join(', ')}]`;
}

/** One step as a sentence, e.g. `client 2 sends {"type":"join"}`. */
export function describeStep(step: Step, defaultPath: string): string {
  switch (step.kind) {
    case 'connect':
      return (
        `client ${step.client} connects to ${describePlan(step.plan, defaultPath)}${delayNote(Object.entries(step.delays))}` +
        (step.overlap === true ? ' (the next steps do not wait for the answer)' : '')
      );
    case 'send':
      return `client ${step.client} sends ${describeMessage(step.message)}${delayNote([['onData', step.onDataDelay]])}`;
    case 'close':
      return step.code === null
        ? `client ${step.client} closes with an empty close frame (no code: 1005)`
        : `client ${step.client} closes with ${step.code}${step.reason === '' ? '' : ` ${JSON.stringify(step.reason)}`}`;
    case 'drop':
      return `client ${step.client} drops the TCP connection (no close frame)`;
    case 'wait':
      return `nobody does anything for ${step.ms} ms`;
    case 'stop':
      return 'server.stop() is called (not awaited; the steps go on)';
  }
}
