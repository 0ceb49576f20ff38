/**
 * The one option validator (src/validate.ts): scopes, `readOptions` rules and each check's
 * exact message; and the options objects that use it besides createServer's (tested in
 * options.test.ts), runCluster's (cluster.test.ts) and the observers' (observe-options.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { resolveClusterOptions } from '../../src/cluster/cluster.js';
import { ErrorCodes, InvalidOptionError, memoryCluster } from '../../src/index.js';
import * as options from '../../src/options.js';
import {
  assertTimerMs,
  boolean,
  func,
  integer,
  logger,
  MAX_TIMER_MS,
  methods,
  nestedScope,
  nullable,
  oneOf,
  optional,
  optionScope,
  pathname,
  readOptions,
  serverScope,
  showValue,
  string,
  strings,
  timerMs,
  type Check,
} from '../../src/validate.js';

function thrown(make: () => unknown): string {
  try {
    make();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as InvalidOptionError).code).toBe(ErrorCodes.INVALID_OPTION);
    return (error as InvalidOptionError).message;
  }
  throw new Error('nothing was thrown');
}

const scope = optionScope('widget');
const run = <T>(check: Check<T>, value: unknown): T => check(value, 'size', scope);

describe('scopes', () => {
  it('name options, unknown options and non-objects', () => {
    expect([serverScope.label('port'), serverScope.unknown('x'), serverScope.notObject]).toEqual(['Option "port"', 'Unknown option "x"', 'Options must be an object']);
    expect([scope.label('size'), scope.unknown('x'), scope.notObject]).toEqual(['widget option "size"', 'Unknown widget option "x"', 'widget options must be an object']);
    const inner = nestedScope(scope, 'deflate');
    expect([inner.label('level'), inner.unknown('x'), inner.notObject]).toEqual([
      'widget option "deflate.level"',
      'Unknown widget option "deflate.x"',
      'widget option "deflate" must be an object',
    ]);
  });

  it('showValue quotes strings and names objects by class', () => {
    expect([showValue('a'), showValue({}), showValue(new Map()), showValue(Object.create(null)), showValue(null), showValue(5)]).toEqual([
      '"a"',
      'Object',
      'Map',
      'object',
      'null',
      '5',
    ]);
  });
});

describe('readOptions', () => {
  const spec = { size: integer(), name: optional(string()), off: nullable(timerMs()) };
  const defaults = { size: 3, name: undefined, off: 10 };

  it('applies defaults for absent and undefined options, unchecked, and checks the rest', () => {
    expect(readOptions(scope, {}, spec, defaults)).toEqual({ size: 3, name: undefined, off: 10 });
    expect(readOptions(scope, { size: undefined, off: null, name: 'n' }, spec, defaults)).toEqual({ size: 3, name: 'n', off: null });
    expect(thrown(() => readOptions(scope, { size: 0 }, spec, defaults))).toBe('widget option "size" must be a positive integer, got 0');
    expect(thrown(() => readOptions(scope, { size: null }, spec, defaults))).toBe('widget option "size" must be a positive integer, got null');
  });

  it('rejects non-objects and unknown keys (inherited names too, undefined values too)', () => {
    for (const input of [null, undefined, 5, 'size=1']) expect(thrown(() => readOptions(scope, input, spec, defaults))).toBe('widget options must be an object');
    expect(thrown(() => readOptions(scope, { colour: undefined }, spec, defaults))).toBe('Unknown widget option "colour"');
    expect(thrown(() => readOptions(scope, { constructor: 1 }, spec, defaults))).toBe('Unknown widget option "constructor"');
  });

  it('reads own keys only', () => {
    const inherited = Object.create({ size: 0 }) as object;
    expect(readOptions(scope, inherited, spec, defaults).size).toBe(3);
  });
});

describe('checks', () => {
  it('integer: the range names itself', () => {
    expect(run(integer(), 1)).toBe(1);
    expect(thrown(() => run(integer(), 1.5))).toBe('widget option "size" must be a positive integer, got 1.5');
    expect(thrown(() => run(integer(), 2 ** 53))).toBe('widget option "size" must be a positive integer, got 9007199254740992');
    expect(thrown(() => run(integer({ min: 0 }), -1))).toBe('widget option "size" must be an integer >= 0, got -1');
    expect(thrown(() => run(integer({ min: 0, max: 9 }), '3'))).toBe('widget option "size" must be an integer from 0 to 9, got 3');
    expect(thrown(() => run(integer({ requirement: 'must be odd', shown: false }), 0))).toBe('widget option "size" must be odd');
    expect(thrown(() => run(integer({ shown: (v) => `<${String(v)}>` }), 0))).toBe('widget option "size" must be a positive integer, got <0>');
  });

  it('timerMs: up to 2^31 - 1, the most Node waits', () => {
    expect(MAX_TIMER_MS).toBe(2 ** 31 - 1);
    expect(run(timerMs(), MAX_TIMER_MS)).toBe(MAX_TIMER_MS);
    expect(thrown(() => run(timerMs(), 2 ** 31))).toBe('widget option "size" must be an integer of milliseconds from 1 to 2147483647 (2^31 - 1), got 2147483648');
    expect(thrown(() => assertTimerMs('closePeriodMs', 0))).toBe('Option "closePeriodMs" must be an integer of milliseconds from 1 to 2147483647 (2^31 - 1), got 0');
  });

  it('createServer options re-export MAX_TIMER_MS and assertTimerMs', () => {
    expect(options.MAX_TIMER_MS).toBe(MAX_TIMER_MS);
    expect(options.assertTimerMs).toBe(assertTimerMs);
  });

  it('boolean, string, oneOf, func, strings', () => {
    expect(thrown(() => run(boolean(), 1))).toBe('widget option "size" must be a boolean');
    expect(thrown(() => run(string(), 1))).toBe('widget option "size" must be a string');
    expect(thrown(() => run(string({ nonEmpty: true }), ''))).toBe('widget option "size" must be a non-empty string');
    expect(thrown(() => run(string({ test: (s) => s === 'x', requirement: 'must be "x"', shown: showValue }), 'y'))).toBe('widget option "size" must be "x", got "y"');
    expect(run(oneOf(['a', 'b', 'c']), 'c')).toBe('c');
    expect(thrown(() => run(oneOf(['a', 'b', 'c']), 'd'))).toBe('widget option "size" must be "a", "b" or "c"');
    expect(thrown(() => run(oneOf(['close', 'fail']), null))).toBe('widget option "size" must be "close" or "fail"');
    expect(thrown(() => run(func(), {}))).toBe('widget option "size" must be a function');
    const given = ['a'];
    const copy = run(strings(), given);
    expect(copy).toEqual(['a']);
    expect(copy).not.toBe(given);
    expect(thrown(() => run(strings(), ['a', 1]))).toBe('widget option "size" must be an array of strings');
  });

  it('logger and methods: an object (or function) with those methods', () => {
    const log = { error: () => undefined, warn: () => undefined };
    expect(run(logger(), log)).toBe(log);
    for (const bad of [null, {}, { error: () => undefined }, 'console']) {
      expect(thrown(() => run(logger(), bad))).toBe('widget option "size" must have error() and warn() methods');
    }
    const callable = Object.assign(() => undefined, { now: () => 0 });
    expect(run(methods(['now'], 'must have now()'), callable)).toBe(callable);
  });

  it('the logger check is one: createServer, runCluster and the adapters say the same', () => {
    const message = 'must have error() and warn() methods';
    expect(thrown(() => options.resolveOptions({ logger: {} as never }))).toBe(`Option "logger" ${message}`);
    expect(thrown(() => resolveClusterOptions({ setup: () => ({ app: {} }), logger: {} as never }))).toBe(`Option "logger" ${message}`);
  });

  it('pathname: must be a normalized request pathname', () => {
    expect(run(pathname(), '/a/b')).toBe('/a/b');
    expect(thrown(() => run(pathname(), 'a'))).toBe('widget option "size" must start with "/", got a');
    expect(thrown(() => run(pathname(), '/a#b'))).toBe('widget option "size" is a pathname and can never contain "?" or "#" (the query is not part of it), got "/a#b"');
    expect(thrown(() => run(pathname(), '/a/./b'))).toBe('widget option "size" "/a/./b" can never match: request pathnames arrive normalized, as "/a/b"');
  });
});

describe('MemoryCluster.adapter options', () => {
  it('requestTimeoutMs is a timer; unknown options and non-objects are refused', () => {
    const cluster = memoryCluster();
    expect(cluster.adapter({ requestTimeoutMs: MAX_TIMER_MS })).toBeDefined();
    expect(cluster.adapter({ requestTimeoutMs: undefined })).toBeDefined();
    for (const value of [0, 1.5, 2 ** 31, '100', null]) {
      expect(thrown(() => cluster.adapter({ requestTimeoutMs: value as number }))).toBe(
        `MemoryCluster.adapter option "requestTimeoutMs" must be an integer of milliseconds from 1 to 2147483647 (2^31 - 1), got ${String(value)}`,
      );
    }
    expect(thrown(() => cluster.adapter({ timeoutMs: 5 } as never))).toBe('Unknown MemoryCluster.adapter option "timeoutMs"');
    expect(thrown(() => cluster.adapter(null as never))).toBe('MemoryCluster.adapter options must be an object');
  });
});
