/**
 * The property runner: generates scenarios with fast-check, runs each against a real server
 * with the user's app (wrapped and recorded), checks the generic lifecycle rules and the
 * user's invariants, shrinks a failing scenario and throws an {@link AppCheckError} whose
 * message a person can follow.
 */
import type { Arbitrary } from 'fast-check';
import { MissingDependencyError } from '../errors.js';
import type { Websocket } from '../types.js';
import { checkRun, type HookFailure, type Violation } from './checks.js';
import { isMachineMessages, machineArbitraries, type MachineMessages } from './machine.js';
import { checkAppOptions } from './options.js';
import { formatFailure } from './report.js';
import { runScenario, type RunOutcome, type RunServerOptions } from './run.js';
import { scenarioArbitrary, type ClientMessage, type ConnectPlan, type FastCheck, type Scenario } from './scenario.js';
import type { AppRun } from './trace.js';

/**
 * A check of your own over a finished run (the server is stopped, every client closed): return
 * `false` or a sentence saying what is wrong, or throw (an `expect(...)` failing is fine);
 * return nothing or `true` when it holds. May be async.
 */
export type Invariant<A> = (run: AppRun<A>) => boolean | string | void | Promise<boolean | string | void>;

/** Options of {@link checkApp}. */
export interface CheckAppOptions<A extends Websocket<unknown>> {
  /** Makes a fresh app for each run (the instance your invariants get as `run.app`). */
  readonly app: () => A;
  /**
   * What clients send: your app's protocol (a string is a text frame, bytes a binary frame); or,
   * for an app with a `clientMachine`, `fromMachine({ payloads })`: its events and paths to its states.
   */
  readonly messages: Arbitrary<ClientMessage> | MachineMessages;
  /** How clients connect: path, query, headers, subprotocols. Default: the server's `path` (or `/`) and nothing else. */
  readonly connect?: Arbitrary<ConnectPlan>;
  /**
   * Server options, all but `host`/`port`/`server` (the server always listens on 127.0.0.1, a
   * free port). The kit's defaults, which these override: `closePeriodMs` 500,
   * `handshakeTimeoutMs` 3000, `stopTimeoutMs` 3000.
   */
  readonly server?: RunServerOptions;
  /** Your invariants, by name: the name is in the report when one fails. */
  readonly invariants?: Readonly<Record<string, Invariant<A>>>;
  /** Scenarios to run. Default: 100 (the environment variable `FC_RUNS` overrides). */
  readonly numRuns?: number;
  /** Replays a failure with the seed from its report (`FC_SEED` overrides). */
  readonly seed?: number;
  /** With `seed`: the path from the report, to run only the failing scenario (`FC_PATH` overrides). */
  readonly path?: string;
  /** Users (clients) per scenario, at most. Default: 3. */
  readonly maxClients?: number;
  /** Steps per scenario, at most. Default: 12. */
  readonly maxSteps?: number;
  /** The kit waits up to this many ms (random, often 0) before calling each real hook; 0: never. Default: 10. */
  readonly maxHookDelayMs?: number;
  /** Call `server.stop()` at random moments inside scenarios (it is always called at the end). Default: true. */
  readonly stopSteps?: boolean;
  /**
   * `onData` calls at once per client (the server's `concurrency`), drawn for each scenario
   * from this arbitrary, e.g. `fc.integer({ min: 1, max: 4 })`; overrides `server.concurrency`.
   * Default: the server option.
   */
  readonly concurrency?: Arbitrary<number>;
  /**
   * Generate each user as a session (it connects, sends a run of up to `maxSteps / maxClients - 2`
   * messages, then closes, drops or stays) and interleave the sessions, with at most one stop,
   * instead of independent random steps, of which many are skipped for a client that is not
   * connected. Some connects do not hold up the steps after them, so handshakes overlap and a
   * stop may come while one is pending. Off by default: a seed found before replays the same.
   */
  readonly sessions?: boolean;
  /** Hook errors your app means to throw (the server then closes with 1011); any other throw fails the check. */
  readonly allowHookError?: (failure: HookFailure) => boolean;
  /**
   * Allow hooks whose work goes on after they returned (a promise not awaited, a timer started
   * in a hook): by default an Endpoint call made by such work after the client's next message
   * started, after its `onClose` began, or after `stop()` resolved, fails the check.
   */
  readonly allowDetachedWork?: boolean;
  /** Time spent shrinking a failure before it is reported as it stands. Default: 15000 ms. */
  readonly shrinkTimeMs?: number;
  /** Stops generating new scenarios after this many ms (the runs so far must pass). Default: none. */
  readonly timeLimitMs?: number;
}

/** What a passing {@link checkApp} did. */
export interface CheckAppReport {
  /** Scenarios run. */
  readonly runs: number;
  /** The seed used (pass it as `seed` to run the same scenarios again). */
  readonly seed: number;
  readonly durationMs: number;
}

/** A failed {@link checkApp}: the message has what broke, the replay line, the numbered steps and the trace. */
export class AppCheckError extends Error {
  override readonly name = 'AppCheckError';

  /**
   * @param message - the full report.
   * @param seed - the fast-check seed, for `seed` / `FC_SEED`.
   * @param path - the path of the shrunk scenario, for `path` / `FC_PATH`.
   * @param violations - each broken rule.
   * @param run - the recorded failing run (scenario, hook calls, Endpoint calls, trace).
   */
  constructor(
    message: string,
    readonly seed: number,
    readonly path: string,
    readonly violations: readonly Violation[],
    readonly run: AppRun<unknown>,
  ) {
    super(message);
  }
}

async function loadFastCheck(): Promise<FastCheck> {
  try {
    return (await import('fast-check')).default;
  } catch (error) {
    if ((error as NodeJS.ErrnoException | null)?.code === 'ERR_MODULE_NOT_FOUND') {
      throw new MissingDependencyError('fast-check', 'checkApp()', 'npm install --save-dev fast-check@4');
    }
    throw error;
  }
}

function envNumber(name: string): number | undefined {
  const value = process.env[name];
  if (value === undefined || value.trim() === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n)) throw new Error(`${name} must be an integer, got ${JSON.stringify(value)}`);
  return n;
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

async function checkInvariants<A>(run: AppRun<A>, invariants: Readonly<Record<string, Invariant<A>>>): Promise<Violation[]> {
  const violations: Violation[] = [];
  for (const [name, invariant] of Object.entries(invariants)) {
    const rule = `invariant ${JSON.stringify(name)}`;
    try {
      const result = await invariant(run);
      if (result === false) violations.push({ rule, connection: null, text: 'returned false' });
      else if (typeof result === 'string') violations.push({ rule, connection: null, text: result });
    } catch (error) {
      violations.push({ rule, connection: null, text: `threw ${errorText(error)}` });
    }
  }
  return violations;
}

interface Failure {
  readonly scenario: Scenario;
  readonly run: RunOutcome<unknown>;
  readonly violations: readonly Violation[];
}

/**
 * Property-tests an app against the lifecycle contract on real sockets: runs `numRuns`
 * generated scenarios (clients connect, send your messages, close with random codes, drop
 * the TCP connection, stay silent, connect again; the server stops at random moments), each
 * against a fresh app on a real server on 127.0.0.1, and checks C1–C5 and S1–S3 in the form
 * that holds for any app, plus your `invariants`. Resolves when every run passed; rejects with
 * an {@link AppCheckError} describing the smallest failing scenario it found, or at once with
 * an `InvalidOptionError` for options it cannot run as meant (an unknown name, `numRuns: 0`,
 * a plain number as `concurrency`).
 *
 * @example
 * await checkApp({
 *   app: () => new Chat(),
 *   messages: fc.constantFrom('{"type":"join"}', '{"type":"say","text":"hi"}'),
 *   invariants: { 'no state for closed clients': ({ app }) => app.members.size === 0 },
 * });
 */
export async function checkApp<A extends Websocket<unknown>>(options: CheckAppOptions<A>): Promise<CheckAppReport> {
  // Without fast-check there are no arbitraries to check: that error first.
  const fc = await loadFastCheck();
  checkAppOptions(options);
  const began = performance.now();
  const seed = envNumber('FC_SEED') ?? options.seed;
  const path = process.env.FC_PATH ?? options.path;
  const numRuns = envNumber('FC_RUNS') ?? options.numRuns ?? 100;
  const serverOptions = options.server ?? {};
  let messages: Arbitrary<ClientMessage>;
  let paths: Arbitrary<readonly ClientMessage[]> | null = null;
  if (isMachineMessages(options.messages)) {
    const config = options.app().clientMachine;
    if (config === undefined) throw new Error('checkApp(): messages: fromMachine() needs an app with a clientMachine');
    const derived = machineArbitraries(fc, config, options.messages);
    messages = derived.messages;
    paths = derived.paths;
  } else {
    messages = options.messages;
  }
  const arbitrary = scenarioArbitrary(fc, {
    messages,
    paths,
    connect: options.connect ?? fc.constant({}),
    maxClients: options.maxClients ?? 3,
    maxSteps: options.maxSteps ?? 12,
    maxHookDelayMs: options.maxHookDelayMs ?? 10,
    stopSteps: options.stopSteps ?? true,
    concurrency: options.concurrency ?? null,
    sessions: options.sessions ?? false,
  });
  const settings = {
    allowHookError: options.allowHookError ?? (() => false),
    allowDetachedWork: options.allowDetachedWork ?? false,
  };
  const shrinkTimeMs = options.shrinkTimeMs ?? 15_000;
  const invariants = options.invariants ?? {};
  let failure: Failure | null = null;
  let failedAt: number | null = null;
  let runsToFailure = 0;

  const property = fc.asyncProperty(arbitrary, async (scenario) => {
    // Once the shrinking budget is spent, every candidate passes at once: the last failure stands.
    if (failedAt !== null && performance.now() - failedAt > shrinkTimeMs) return true;
    if (failedAt === null) runsToFailure++;
    const run = await runScenario(options.app, serverOptions, scenario);
    const violations = [...checkRun(run, settings), ...(await checkInvariants(run, invariants))];
    if (violations.length === 0) return true;
    failure = { scenario, run, violations };
    failedAt ??= performance.now();
    return false;
  });
  const details = await fc.check(property, {
    numRuns,
    ...(seed === undefined ? {} : { seed }),
    ...(path === undefined ? {} : { path }),
    ...(options.timeLimitMs === undefined ? {} : { interruptAfterTimeLimit: options.timeLimitMs }),
  });
  const found = failure as Failure | null;
  if (!details.failed) return { runs: details.numRuns, seed: details.seed, durationMs: Math.round(performance.now() - began) };
  if (found === null || details.counterexamplePath === null) {
    throw new Error(`checkApp(): the run itself failed (seed ${details.seed}, path ${details.counterexamplePath ?? '?'}): ${errorText(details.errorInstance)}`, {
      cause: details.errorInstance,
    });
  }
  const message = formatFailure(found.run, found.violations, {
    seed: details.seed,
    path: details.counterexamplePath,
    runs: runsToFailure,
    shrinks: details.numShrinks,
  });
  throw new AppCheckError(message, details.seed, details.counterexamplePath, found.violations, found.run);
}
