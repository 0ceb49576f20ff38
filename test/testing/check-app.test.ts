/**
 * checkApp on correct apps: a room chat (per-client Map cleaned in onClose) with its own
 * invariants, and the echo example with binary and oversized messages, both pass; a failure
 * replays from the seed and path of its report (options or FC_SEED/FC_PATH); what the kit
 * leaves behind (listeners) is cleaned up.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EchoApp } from '../../examples/echo.js';
import { AppCheckError, checkApp } from '../../src/testing/index.js';
import { RoomChat } from './apps.js';
import { chatMessages, countsOnlyConfirmedSends, noStateForClosedClients } from './messages.js';

const rooms = fc.record({ query: fc.record({ room: fc.constantFrom('a', 'b', 'private') }) });

async function failure(run: Promise<unknown>): Promise<AppCheckError> {
  const error = await run.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppCheckError);
  return error as AppCheckError;
}

/** The numbered steps of a report (server ids differ between runs: ids are never reused). */
function steps(message: string): string {
  return message.slice(message.indexOf('The scenario, step by step'), message.indexOf('The trace')).replace(/server id \d+/g, 'server id N');
}

describe('checkApp on correct apps', () => {
  it('passes a room chat whose per-client state is cleaned in onClose, with its own invariants', async () => {
    const report = await checkApp({
      app: () => new RoomChat(),
      messages: chatMessages,
      connect: rooms,
      server: { path: '/chat' },
      invariants: { 'no state for closed clients': noStateForClosedClients, 'counts only confirmed sends': countsOnlyConfirmedSends },
      numRuns: 80,
    });
    expect(report.runs).toBe(80);
    expect(typeof report.seed).toBe('number');
  }, 30_000);

  it('passes the echo example with text, binary and oversized messages (1009) and concurrency 2', async () => {
    const listeners = process.listenerCount('unhandledRejection');
    await checkApp({
      app: () => new EchoApp(),
      messages: fc.oneof(fc.string({ maxLength: 20 }), fc.uint8Array({ maxLength: 20 }), fc.constant('x'.repeat(70_000))),
      server: { maxPayload: 65_536, concurrency: 2 },
      invariants: {
        'nothing echoed that was not sent': ({ connections }) => connections.every((c) => c.received.length <= c.sent.length),
      },
      numRuns: 60,
    });
    expect(process.listenerCount('unhandledRejection')).toBe(listeners);
  }, 30_000);

  it('allowHookError lets an app throw on purpose (the client gets 1011)', async () => {
    class Strict extends RoomChat {
      override onData(clientId: number, message: Parameters<RoomChat['onData']>[1]): Promise<void> | undefined {
        if (message.size > 0 && !message.isBinary) return super.onData(clientId, message);
        throw new Error('empty or binary message');
      }
    }
    await checkApp({
      app: () => new Strict(),
      messages: fc.oneof(chatMessages, fc.constant(''), fc.uint8Array({ maxLength: 3 })),
      allowHookError: ({ hook, error }) => hook === 'onData' && error === 'Error: empty or binary message',
      invariants: { 'no state for closed clients': noStateForClosedClients },
      numRuns: 40,
    });
  }, 30_000);
});

describe('replaying a failure', () => {
  const buggy = {
    app: () => new RoomChat('state-after-close'),
    messages: chatMessages,
    invariants: { 'no state for closed clients': noStateForClosedClients },
    numRuns: 50,
    shrinkTimeMs: 3000,
  };

  it('the seed and path of the report run the same shrunk scenario again (options, then FC_SEED/FC_PATH)', async () => {
    const first = await failure(checkApp(buggy));
    expect(first.message).toContain(`seed: ${first.seed}, path: "${first.path}"`);
    expect(first.message).toContain(`FC_SEED=${first.seed} FC_PATH=${first.path} npx vitest run`);

    const again = await failure(checkApp({ ...buggy, seed: first.seed, path: first.path }));
    expect(steps(again.message)).toBe(steps(first.message));
    expect(again.message).toContain('found after 1 run');

    process.env.FC_SEED = String(first.seed);
    process.env.FC_PATH = first.path;
    try {
      const fromEnv = await failure(checkApp(buggy));
      expect(steps(fromEnv.message)).toBe(steps(first.message));
    } finally {
      delete process.env.FC_SEED;
      delete process.env.FC_PATH;
    }
    // The error carries the run for programmatic checks.
    expect(first.run.scenario.steps.length).toBeGreaterThan(0);
    expect(first.violations.map((v) => v.rule)).toEqual(['invariant "no state for closed clients"']);
  }, 30_000);
});
