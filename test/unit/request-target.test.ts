/**
 * Request targets: the plain-path shortcut of request-target.ts must agree with the URL parser
 * it skips, and a target is served only if the parser reads it as sent (fast-check prints the
 * seed on failure).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isServableTarget, parseRequestTarget, pathnameOf } from '../../src/runtime/request-target.js';

/** Characters that matter to the shortcut or to the URL parser (dots, slashes, escapes, query, ...). */
const PIECES = ['/', '/', '.', '..', 'a', 'Z', '9', '-', '_', '~', '%2e', '%', '?', '#', ' ', '\\', ':', '@', '!', "'", '[', 'é', '\t', '"', '{', '|'];
const target = fc.array(fc.constantFrom(...PIECES), { maxLength: 12 }).map((parts) => parts.join(''));

describe('request targets: the plain-path shortcut', () => {
  it('gives the URL parser’s pathname for any target, and serves only what it parses (property)', () => {
    fc.assert(
      fc.property(fc.oneof(target, target.map((t) => `/${t}`)), (t) => {
        const parsed = parseRequestTarget(t);
        expect(pathnameOf(t)).toBe(parsed?.pathname ?? null);
        if (isServableTarget(t)) {
          expect(parsed).not.toBeNull();
          expect(t).not.toMatch(/[\\#]/);
          // Without a literal dot, no segment is resolved away (not even "%2e%2e").
          const path = t.split('?', 1)[0] as string;
          if (t.startsWith('/') && !path.includes('.')) expect(parsed?.pathname.split('/').length).toBe(path.split('/').length);
        }
        // A path the parser keeps as sent, character for character, is served.
        if (/^\/[A-Za-z0-9\-_~!$&'()*+,;=:@./]*$/.test(t) && parsed?.pathname === t) expect(isServableTarget(t)).toBe(true);
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
    expect(isServableTarget('http://[')).toBe(false);
    expect(isServableTarget(undefined)).toBe(true);
  });

  it.each(['/a\\..\\chat', '/chat\\', '/chat#frag', '/chat?x=1#f', '*', 'chat', 'foo:bar', 'example.com:443', 'mailto:x@y', '/x/%2e%2e/chat', '/x/%2E./chat', '/x/.%2e', '/%2e/chat'])('refuses %s (400)', (t) => {
    expect(isServableTarget(t)).toBe(false);
  });

  it.each(['/', '/chat', '/chat/', '/chat?x=1&y=%7B%7D', '/a/../chat', '/%C3%A4', '//chat', 'http://host/chat', 'HTTPS://host:8443/chat?x=1', 'ws://host/chat', '/x/%2e%2e%2e', '/a%2eb', '/p?x=/%2e%2e/'])('serves %s', (t) => {
    expect(isServableTarget(t)).toBe(true);
  });
});
