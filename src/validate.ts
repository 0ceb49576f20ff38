/**
 * The one option validator, used by every options object wsactor takes (`createServer`,
 * `runCluster`, `redisAdapter`, `MemoryCluster.adapter`, `createLiveView` and its `listen`,
 * `createMetrics`). Each options object is read by {@link readOptions} with a spec: one small
 * typed {@link Check} per option. A failed check throws {@link InvalidOptionError} with an
 * exact message built from the options object's {@link OptionScope}:
 *
 *     Options must be an object                      (scope.notObject)
 *     Unknown option "colour"                        (scope.unknown)
 *     Option "port" must be an integer from 0 to 65535, got 70000
 *     └ scope.label ┘ └ the check's requirement ───────┘ └ the value, when the check shows it
 *
 * Rules shared by every options object: it must be a non-null object; only its own
 * enumerable keys count, and each must be an option of the spec (inherited names such as
 * `toString` are unknown too, even with an undefined value); an option whose value is
 * undefined takes its default unchecked; null is a value (accepted only by {@link nullable}).
 */
import { InvalidOptionError } from './errors.js';
import type { Logger } from './runtime/logger.js';
import { pathnameOf } from './runtime/request-target.js';

/** Node's timers take at most 2^31 - 1 ms; a longer delay silently becomes 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** How the messages of one options object name things. */
export interface OptionScope {
  /** Names option `key` at the start of a message, e.g. `Option "port"`. */
  readonly label: (key: string) => string;
  /** The message for an option the spec does not have, e.g. `Unknown option "colour"`. */
  readonly unknown: (key: string) => string;
  /** The message for options that are no object. */
  readonly notObject: string;
  /** Shows a bad value after ", got " (for checks that show it). */
  readonly show: (value: unknown) => string;
}

/** A value shown in a message: strings quoted, objects by their class name, the rest as `String`. */
export function showValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'object' && value !== null) return (value.constructor as { name?: string } | undefined)?.name ?? 'object';
  return String(value);
}

/** The scope of `createServer` options: `Option "port"`, `Unknown option "x"`, `Options must be an object`. */
export const serverScope: OptionScope = {
  label: (key) => `Option "${key}"`,
  unknown: (key) => `Unknown option "${key}"`,
  notObject: 'Options must be an object',
  show: String,
};

/** The scope of a function's options: `<owner> option "x"`, `Unknown <owner> option "x"`, `<owner> options must be an object`. */
export function optionScope(owner: string, show: (value: unknown) => string = String): OptionScope {
  return {
    label: (key) => `${owner} option "${key}"`,
    unknown: (key) => `Unknown ${owner} option "${key}"`,
    notObject: `${owner} options must be an object`,
    show,
  };
}

/** The scope of the object inside option `key`: its options are named `key.inner`. */
export function nestedScope(scope: OptionScope, key: string): OptionScope {
  return {
    label: (inner) => scope.label(`${key}.${inner}`),
    unknown: (inner) => scope.unknown(`${key}.${inner}`),
    notObject: `${scope.label(key)} must be an object`,
    show: scope.show,
  };
}

/** Checks one option's value and returns it (typed, possibly copied); throws InvalidOptionError. */
export type Check<T> = (value: unknown, key: string, scope: OptionScope) => T;
/** What a check returns. */
export type Checked<C> = C extends Check<infer T> ? T : never;
/** Whether a failed check shows the value after ", got ": with the scope's `show`, with this function, or not. */
export type Shown = boolean | ((value: unknown) => string);

/** Throws `<label> <requirement>[, got <value>]`. */
export function fail(scope: OptionScope, key: string, requirement: string, value?: unknown, shown: Shown = false): never {
  const got = shown === false ? '' : `, got ${(shown === true ? scope.show : shown)(value)}`;
  throw new InvalidOptionError(`${scope.label(key)} ${requirement}${got}`);
}

/** A check from a test; the message is `<label> <requirement>`, with the value when `shown`. */
export function satisfies<T>(test: (value: unknown) => boolean, requirement: string, shown: Shown = false): Check<T> {
  return (value, key, scope) => (test(value) ? (value as T) : fail(scope, key, requirement, value, shown));
}

/** Undefined passes (only where no default applies: {@link readOptions} defaults undefined). */
export function optional<T>(check: Check<T>): Check<T | undefined> {
  return (value, key, scope) => (value === undefined ? undefined : check(value, key, scope));
}

/** Null passes (e.g. "off" or "no limit"). */
export function nullable<T>(check: Check<T>): Check<T | null> {
  return (value, key, scope) => (value === null ? null : check(value, key, scope));
}

/**
 * An integer from `min` (default 1) to `max` (default and at most 2^53 - 1). The requirement
 * reads `must be a positive integer`, `must be an integer >= <min>` or `must be an integer
 * from <min> to <max>` unless `requirement` says otherwise; the value is shown.
 */
export function integer(options: { min?: number; max?: number; requirement?: string; shown?: Shown } = {}): Check<number> {
  const { min = 1, max = Number.MAX_SAFE_INTEGER, shown = true } = options;
  const range = max === Number.MAX_SAFE_INTEGER ? (min === 1 ? 'a positive integer' : `an integer >= ${min}`) : `an integer from ${min} to ${max}`;
  const requirement = options.requirement ?? `must be ${range}`;
  return satisfies((value) => typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max, requirement, shown);
}

/** A timer delay: an integer of milliseconds from 1 to {@link MAX_TIMER_MS}, the most Node can wait. */
export function timerMs(): Check<number> {
  return integer({ max: MAX_TIMER_MS, requirement: `must be an integer of milliseconds from 1 to ${MAX_TIMER_MS} (2^31 - 1)` });
}

/** `true` or `false`: `must be a boolean`. */
export function boolean(): Check<boolean> {
  return satisfies((value) => typeof value === 'boolean', 'must be a boolean');
}

/** A string (non-empty with `nonEmpty`, passing `test` when given): `must be a (non-empty) string` unless `requirement` says otherwise. */
export function string(options: { nonEmpty?: boolean; test?: (value: string) => boolean; requirement?: string; shown?: Shown } = {}): Check<string> {
  const { nonEmpty = false, test, shown = false } = options;
  const requirement = options.requirement ?? (nonEmpty ? 'must be a non-empty string' : 'must be a string');
  return satisfies((value) => typeof value === 'string' && (!nonEmpty || value !== '') && (test?.(value) ?? true), requirement, shown);
}

/** One of `values`: `must be "a", "b" or "c"`. */
export function oneOf<const T extends string>(values: readonly T[]): Check<T> {
  const quoted = values.map((value) => JSON.stringify(value));
  const listed = quoted.length < 2 ? quoted.join('') : `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}`;
  return satisfies((value) => (values as readonly unknown[]).includes(value), `must be ${listed}`);
}

/** A function: `must be a function`. */
export function func<F>(): Check<F> {
  return satisfies((value) => typeof value === 'function', 'must be a function');
}

/** An array of strings, copied: `must be an array of strings` unless `requirement` says otherwise. */
export function strings(requirement = 'must be an array of strings'): Check<readonly string[]> {
  const check = satisfies<readonly string[]>((value) => Array.isArray(value) && value.every((item) => typeof item === 'string'), requirement);
  return (value, key, scope) => [...check(value, key, scope)];
}

/** An object (or function) whose `names` are all functions. */
export function methods<T>(names: readonly string[], requirement: string): Check<T> {
  return satisfies((value) => {
    if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return false;
    return names.every((name) => typeof (value as Record<string, unknown>)[name] === 'function');
  }, requirement);
}

/** A {@link Logger}: `must have error() and warn() methods`. */
export function logger(): Check<Logger> {
  return methods<Logger>(['error', 'warn'], 'must have error() and warn() methods');
}

/**
 * A path compared with request pathnames: it must be one, as `URL` normalizes it (starts
 * with "/", no "?" or "#", nothing that normalizing changes), or it could never match.
 */
export function pathname(): Check<string> {
  return (value, key, scope) => {
    if (typeof value !== 'string' || !value.startsWith('/')) return fail(scope, key, 'must start with "/"', value, String);
    if (value.includes('?') || value.includes('#')) {
      return fail(scope, key, 'is a pathname and can never contain "?" or "#" (the query is not part of it)', value, showValue);
    }
    const normalized = pathnameOf(value);
    if (normalized !== value) {
      return fail(scope, key, `${showValue(value)} can never match: request pathnames arrive normalized, as ${showValue(normalized)}`);
    }
    return value;
  };
}

/** A spec: the check of every option of one options object. */
export type Spec = Readonly<Record<string, Check<unknown>>>;
/** What {@link readOptions} returns for a spec. */
export type OptionsOf<S extends Spec> = { -readonly [K in keyof S]: Checked<S[K]> };

/**
 * Reads an options object: throws `scope.notObject` unless `input` is a non-null object and
 * `scope.unknown(key)` for its first own key that `spec` does not have; then, for each option
 * in spec order, takes `defaults[key]` when the value is undefined (or absent) and runs the
 * option's check otherwise. Cross-option rules (one option excludes another) stay with the caller.
 */
export function readOptions<S extends Spec>(scope: OptionScope, input: unknown, spec: S, defaults: OptionsOf<S>): OptionsOf<S> {
  if (typeof input !== 'object' || input === null) throw new InvalidOptionError(scope.notObject);
  for (const key of Object.keys(input)) {
    if (!Object.hasOwn(spec, key)) throw new InvalidOptionError(scope.unknown(key));
  }
  const given = input as Readonly<Record<string, unknown>>;
  const read: Record<string, unknown> = {};
  for (const key of Object.keys(spec)) {
    const value = Object.hasOwn(given, key) ? given[key] : undefined;
    read[key] = value === undefined ? defaults[key] : (spec[key] as Check<unknown>)(value, key, scope);
  }
  return read as OptionsOf<S>;
}

/** A timer delay of `createServer` options (see {@link timerMs}); throws InvalidOptionError. */
export function assertTimerMs(name: string, value: unknown): void {
  timerMs()(value, name, serverScope);
}
