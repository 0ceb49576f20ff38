/** Server option tests: a bad value must throw InvalidOptionError with exactly this message (or one matching it). */
import { expect } from 'vitest';
import { ErrorCodes, InvalidOptionError } from '../../src/errors.js';
import { resolveOptions, type ServerOptions } from '../../src/options.js';

export function rejectsOption(options: unknown, message: string | RegExp): void {
  let caught: unknown;
  try {
    resolveOptions(options as ServerOptions);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(InvalidOptionError);
  expect((caught as InvalidOptionError).code).toBe(ErrorCodes.INVALID_OPTION);
  if (typeof message === 'string') expect((caught as Error).message).toBe(message);
  else expect((caught as Error).message).toMatch(message);
}
