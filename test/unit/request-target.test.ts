/**
 * The plain-path shortcut of request-target.ts must agree with the URL parser it skips: same
 * pathname, same verdict on what parses, for any target (fast-check prints the seed on failure).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isParsableTarget, parseRequestTarget, pathnameOf } from '../../src/runtime/request-target.js';

/** Characters that matter to the shortcut or to the URL parser (dots, slashes, escapes, query, ...). */
const PIECES = ['/', '/', '.', '..', 'a', 'Z', '9', '-', '_', '~', '%2e', '%', '?', '#', ' ', '\\', ':', '@', '!', "'", '[', 'é', '\t', '"', '{', '|'];
const target = fc.array(fc.constantFrom(...PIECES), { maxLength: 12 }).map((parts) => parts.join(''));

describe('request targets: the plain-path shortcut', () => {
  it('gives the URL parser’s pathname and verdict for any target (property)', () => {
    fc.assert(
      fc.property(fc.oneof(target, target.map((t) => `/${t}`)), (t) => {
        const parsed = parseRequestTarget(t);
        expect(pathnameOf(t)).toBe(parsed?.pathname ?? null);
        expect(isParsableTarget(t)).toBe(parsed !== null);
      }),
      { numRuns: 3000, verbose: 1 },
    );
  });

  it('keeps the cases that need the parser', () => {
    expect(pathnameOf('/chat')).toBe('/chat');
    expect(pathnameOf('/a/./b/../c')).toBe('/a/c');
    expect(pathnameOf('/a%2e')).toBe('/a%2e');
    expect(pathnameOf('/x y')).toBe('/x%20y');
    expect(pathnameOf('//evil.example/x')).toBe('//evil.example/x');
    expect(pathnameOf('/p?q=1')).toBe('/p');
    expect(isParsableTarget('http://[')).toBe(false);
    expect(isParsableTarget(undefined)).toBe(true);
  });
});
