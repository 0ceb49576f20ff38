/**
 * checkApp reads its options like every wsactor options object: a misspelled name, a count
 * that would test nothing, a plain value where an arbitrary or a function belongs is an
 * InvalidOptionError at once, not a run that passes without testing.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/index.js';
import { checkApp, type CheckAppOptions } from '../../src/testing/index.js';
import type { Websocket } from '../../src/index.js';

const base: CheckAppOptions<Websocket> = { app: () => ({}), messages: fc.constant('hi'), numRuns: 1 };

async function rejection(options: unknown): Promise<unknown> {
  return checkApp(options as CheckAppOptions<Websocket>).then(
    () => null,
    (error: unknown) => error,
  );
}

describe('checkApp options', () => {
  it.each([
    [{ ...base, maxClient: 3 }, 'Unknown checkApp() option "maxClient"'],
    [{ ...base, numRuns: 0 }, 'checkApp() option "numRuns" must be a positive integer, got 0'],
    [{ ...base, maxClients: 0 }, 'checkApp() option "maxClients" must be a positive integer, got 0'],
    [{ ...base, maxSteps: -1 }, 'checkApp() option "maxSteps" must be a positive integer, got -1'],
    [{ ...base, maxHookDelayMs: 1.5 }, 'checkApp() option "maxHookDelayMs" must be an integer >= 0, got 1.5'],
    [{ ...base, concurrency: 3 }, 'checkApp() option "concurrency" must be a fast-check arbitrary, e.g. fc.integer({ min: 1, max: 4 }) (fc.constant(3) for one value), got 3'],
    [{ ...base, allowHookError: true }, 'checkApp() option "allowHookError" must be a function (failure) => boolean'],
    [{ ...base, messages: ['hi'] }, 'checkApp() option "messages" must be a fast-check arbitrary of messages or fromMachine(...)'],
    [{ ...base, invariants: { empty: true } }, 'checkApp() option "invariants" must be an object of functions, by name'],
    [{ ...base, sessions: 'yes' }, 'checkApp() option "sessions" must be a boolean'],
    [{ messages: fc.constant('hi') }, 'checkApp() option "app" is required'],
    [null, 'checkApp() options must be an object'],
  ])('%j is refused: %s', async (options, message) => {
    const error = await rejection(options);
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as InvalidOptionError).code).toBe('WSA_ERR_INVALID_OPTION');
    expect((error as Error).message).toContain(message);
  });

  it('accepts every documented option (one run)', async () => {
    const report = await checkApp({
      ...base,
      connect: fc.constant({}),
      server: {},
      invariants: { holds: () => true },
      seed: -12345,
      maxClients: 1,
      maxSteps: 2,
      maxHookDelayMs: 0,
      stopSteps: false,
      concurrency: fc.constant(2),
      sessions: true,
      allowHookError: () => false,
      allowDetachedWork: false,
      shrinkTimeMs: 0,
      timeLimitMs: 10_000,
    });
    expect(report.runs).toBe(1);
  });
});
