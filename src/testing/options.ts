/**
 * `checkApp` options, read by the project's one option validator (src/validate.ts): a
 * misspelled option, a count that would test nothing, or a plain number where an arbitrary
 * belongs throws `InvalidOptionError` at once instead of passing without testing.
 */
import { InvalidOptionError } from '../errors.js';
import { boolean, func, integer, optionScope, readOptions, satisfies, showValue, string, type Check } from '../validate.js';
import { isMachineMessages } from './machine.js';

const scope = optionScope('checkApp()', showValue);

function isArbitrary(value: unknown): boolean {
  const candidate = value as { generate?: unknown; shrink?: unknown } | null;
  return typeof candidate === 'object' && candidate !== null && typeof candidate.generate === 'function' && typeof candidate.shrink === 'function';
}

const arbitrary = (example: string): Check<unknown> => satisfies(isArbitrary, `must be a fast-check arbitrary, e.g. ${example}`, true);
const object = (requirement: string, test: (value: object) => boolean = () => true): Check<unknown> =>
  satisfies((value) => typeof value === 'object' && value !== null && !Array.isArray(value) && test(value), requirement, true);

const spec = {
  app: func<unknown>(),
  messages: satisfies((value) => isArbitrary(value) || isMachineMessages(value), 'must be a fast-check arbitrary of messages or fromMachine(...)', true),
  connect: arbitrary('fc.constant({ path: "/" })'),
  server: object('must be an object of server options'),
  invariants: object('must be an object of functions, by name', (value) => Object.values(value).every((f) => typeof f === 'function')),
  numRuns: integer(),
  seed: integer({ min: -(2 ** 31), max: 2 ** 31 - 1, requirement: 'must be the seed from a report (a 32-bit integer)' }),
  path: string({ nonEmpty: true, requirement: 'must be the path from a report, e.g. "3:1:0"', shown: true }),
  maxClients: integer(),
  maxSteps: integer(),
  maxHookDelayMs: integer({ min: 0 }),
  stopSteps: boolean(),
  concurrency: arbitrary('fc.integer({ min: 1, max: 4 }) (fc.constant(3) for one value)'),
  sessions: boolean(),
  allowHookError: satisfies((value) => typeof value === 'function', 'must be a function (failure) => boolean, e.g. (f) => f.hook === "onData"', true),
  allowDetachedWork: boolean(),
  shrinkTimeMs: integer({ min: 0 }),
  timeLimitMs: integer(),
};

const NONE = Object.fromEntries(Object.keys(spec).map((key) => [key, undefined])) as never;

/** Throws InvalidOptionError for options `checkApp` cannot run as meant; `app` and `messages` are required. */
export function checkAppOptions(options: unknown): void {
  const read = readOptions(scope, options, spec, NONE) as Record<string, unknown>;
  for (const key of ['app', 'messages']) {
    if (read[key] === undefined) throw new InvalidOptionError(`checkApp() option "${key}" is required`);
  }
}
