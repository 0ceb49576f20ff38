/**
 * The kit on the project's own chat example (dogfood), with the chat's own invariant, and the
 * kit's promise of leaving nothing behind: no port and no file descriptor stays open after a
 * default-sized run.
 */
import { readdirSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChatApp } from '../../examples/chat/app.js';
import { checkApp } from '../../src/testing/index.js';

const openFds = (): number => readdirSync('/proc/self/fd').length;

const chatMessages = fc.oneof(
  fc.string({ maxLength: 12 }).map((text) => JSON.stringify({ type: 'message', text })),
  fc.constant('{"type":"who"}'),
  fc.constant('not json'),
);

describe('checkApp on the chat example', () => {
  it('keeps the contract and holds no user after every client closed; leaves no fd behind', async () => {
    const before = openFds();
    const report = await checkApp({
      app: () => new ChatApp({ log: () => undefined }),
      messages: chatMessages,
      connect: fc.record({ query: fc.record({ name: fc.constantFrom('ada', 'bob', 'Ada') }) }),
      server: { path: '/chat', maxPayload: 64 * 1024 },
      invariants: { 'no user kept for a closed client': ({ app }) => app.users.size === 0 },
      numRuns: 100,
    });
    expect(report.runs).toBe(100);
    // Sockets close asynchronously: give the last ones a moment, then count.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(openFds()).toBeLessThanOrEqual(before);
  }, 60_000);
});
