/**
 * Proof that checkApp finds bugs: the room chat with one planted bug each must fail with a
 * report that names the bug, carries the seed and path, and lists the shrunk scenario as
 * numbered steps. Some are caught by the app's own invariants, the others by the kit's generic checks.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkRun } from '../../src/testing/checks.js';
import { AppCheckError, checkApp, type CheckAppOptions } from '../../src/testing/index.js';
import { runScenario } from '../../src/testing/run.js';
import { RoomChat, type Bug } from './apps.js';
import { chatMessages, countsOnlyConfirmedSends, noSendToGoneClient, noStateForClosedClients, oneSeatHolder } from './messages.js';

async function reportFor(bug: Bug, options: Partial<CheckAppOptions<RoomChat>> = {}): Promise<AppCheckError> {
  const error = await checkApp({
    app: () => new RoomChat(bug),
    messages: chatMessages,
    invariants: { 'no state for closed clients': noStateForClosedClients, 'counts only confirmed sends': countsOnlyConfirmedSends },
    numRuns: 300,
    shrinkTimeMs: 3000,
    ...options,
  }).then(
    () => null,
    (e: unknown) => e,
  );
  expect(error, `the kit did not catch the "${bug}" bug`).toBeInstanceOf(AppCheckError);
  const report = error as AppCheckError;
  // Seed and path to replay it, and the scenario as numbered steps ending with the stop.
  expect(report.message).toContain(`Replay it: checkApp({ ..., seed: ${report.seed}, path: "${report.path}" })`);
  expect(report.message).toMatch(/\n {2}0\. the test starts the server on 127\.0\.0\.1, a free port/);
  expect(report.message).toMatch(/\n {2}1\. client 1 connects to \//);
  expect(report.message).toMatch(/\n {2}\d+\. the test calls server\.stop\(\) and awaits it/);
  expect(report.message).toContain('The trace (ms since the run began');
  return report;
}

describe('checkApp catches planted bugs', () => {
  it('per-client state kept after onClose (the app\'s invariant)', async () => {
    const report = await reportFor('state-after-close');
    expect(report.message).toMatch(/\[invariant "no state for closed clients"\] after every client closed the app still holds members \[\] and rooms \{lobby: \d+/);
  }, 20_000);

  it('a send to a closing client counted as delivered (the app\'s invariant)', async () => {
    const report = await reportFor('counts-failed-sends', {
      messages: fc.oneof({ weight: 4, arbitrary: fc.constant('{"type":"say","text":"hi"}') }, { weight: 1, arbitrary: chatMessages }),
    });
    expect(report.message).toMatch(/\[invariant "counts only confirmed sends"\] the app counted \d+ deliveries; the Endpoint confirmed \d+/);
    // The trace shows the multicast that failed for the closing client.
    expect(report.message).toMatch(/endpoint\.multicast -> .*failed for \d+ \(WSA_ERR_CLIENT_CLOSING\)/);
  }, 20_000);

  it('onData returning before its work is done, so two messages interleave (the kit\'s C3 check, or C1 when shrunk to one message)', async () => {
    const report = await reportFor('detached-ondata', { invariants: {} });
    // Shrinking often keeps one message whose work outlives onClose (C1) rather than two that interleave (C3): both name the missing await.
    const detached = report.violations.find((v) => v.rule === 'C3' || v.rule === 'C1');
    expect(detached?.text).toMatch(/^the work of onData of client 1 \(message \d+: \{"type":.*?\}\) (was still running when onData of client 1 \(message \d+: .*\) started|called endpoint)/);
    expect(detached?.text).toContain(detached?.rule === 'C3' ? 'so the handling of the two messages interleaved' : 'onData returned before its work was done (a promise not awaited?)');
    expect(report.message).toContain(`[${detached?.rule}] client 1: the work of onData of client 1`);
  }, 20_000);

  it('the C3 check on a fixed scenario: two messages whose handling interleaves', async () => {
    const delays = { onHandshake: 0, onOpen: 0, onClose: 0 };
    const run = await runScenario(() => new RoomChat('detached-ondata'), {}, {
      steps: [
        { kind: 'connect', client: 1, plan: {}, delays },
        { kind: 'send', client: 1, message: '{"type":"say","text":"a"}', onDataDelay: 0 },
        { kind: 'send', client: 1, message: '{"type":"who"}', onDataDelay: 0 },
        { kind: 'wait', ms: 20 },
      ],
      onStartDelay: 0,
      onStopDelay: 0,
    });
    const id = String(run.connections[0]?.clientId);
    expect(checkRun(run, { allowHookError: () => false, allowDetachedWork: false })).toEqual([
      {
        rule: 'C3',
        connection: '1',
        text:
          'the work of onData of client 1 (message 1: {"type":"say","text":"a"}) was still running when onData of client 1 (message 2: {"type":"who"}) started: ' +
          `it called endpoint.multicast({"type":"said","from":${id},"text":"a"}) to ${id} after onData had returned (a promise not awaited?), ` +
          'so the handling of the two messages interleaved',
      },
    ]);
    // The same app with the await in place passes the same scenario.
    const fixed = await runScenario(() => new RoomChat(), {}, run.scenario);
    expect(checkRun(fixed, { allowHookError: () => false, allowDetachedWork: false })).toEqual([]);
  });

  it('a hook that throws (the kit\'s check: no hook may throw unless allowed)', async () => {
    const report = await reportFor('throws-on-missing-text', {
      invariants: {},
      messages: fc.oneof(fc.constant('{"type":"say"}'), fc.constant('{"type":"say","text":"x"}'), fc.constant('{"type":"who"}')),
    });
    expect(report.message).toMatch(
      /\[hook threw\] client 1: onData of client 1 \(message \d+: \{"type":"say"\}\) threw TypeError: Cannot read properties of undefined \(reading 'trim'\)/,
    );
    // The trace shows the throw where it happened.
    expect(report.message).toContain("THREW TypeError: Cannot read properties of undefined (reading 'trim')");
  }, 20_000);

  it('a room list that keeps a closed client\'s id, so later sends go to a client that is gone (the app\'s invariant)', async () => {
    const report = await reportFor('state-after-close', {
      invariants: { 'no send to a client that is gone': noSendToGoneClient },
      messages: fc.oneof({ weight: 4, arbitrary: fc.constant('{"type":"say","text":"hi"}') }, { weight: 1, arbitrary: chatMessages }),
    });
    expect(report.message).toMatch(
      /\[invariant "no send to a client that is gone"\] endpoint\.multicast\(\{"type":"said","from":\d+,"text":".*?"\}\) by onData of client [\d#]+ went to id \d+ \(client [\d#]+\), which is gone \(WSA_ERR_UNKNOWN_CLIENT\)/,
    );
    expect(report.message).toMatch(/endpoint\.multicast -> .*failed for .*\d+ \(WSA_ERR_UNKNOWN_CLIENT\)/);
  }, 20_000);

  it('an onClose that throws (the kit\'s check: no hook may throw unless allowed)', async () => {
    const report = await reportFor('throws-in-onclose', {
      invariants: {},
      messages: fc.oneof(fc.constant('{"type":"leave"}'), fc.constant('{"type":"who"}')),
    });
    expect(report.message).toMatch(
      /\[hook threw\] client 1: onClose of client 1 threw TypeError: Cannot read properties of undefined \(reading 'delete'\)/,
    );
    expect(report.message).toMatch(/\n {2}\d+\. client 1 sends "?\{"type":"leave"\}/);
    expect(report.message).toMatch(/onClose\(client 1, id \d+\) THREW TypeError/);
  }, 20_000);

  it('a reply that depends on a race between two clients\' messages (the app\'s invariant)', async () => {
    const report = await reportFor('claim-race', {
      invariants: { 'one seat holder': oneSeatHolder },
      messages: fc.oneof({ weight: 8, arbitrary: fc.constant('{"type":"claim"}') }, { weight: 1, arbitrary: chatMessages }),
      maxClients: 2,
      // The race is between the two clients' messages: no kit delay in front of onData to pull them apart.
      maxHookDelayMs: 0,
    });
    expect(report.message).toMatch(/\[invariant "one seat holder"\] 2 clients were told they hold the seat: client [\d#]+, client [\d#]+/);
    // The steps: two connections claim (shrinking may keep them as client 1 and 2, or client 1 and its second connection 1#2).
    expect(report.message.match(/\n {2}\d+\. client \d+ sends \{"type":"claim"\}/g)?.length).toBeGreaterThanOrEqual(2);
    // The trace: the app told each of them yes.
    expect(report.message.match(/endpoint\.send\(\{"type":"claimed","ok":true\}\) to \d+, by onData/g)?.length).toBeGreaterThanOrEqual(2);
  }, 20_000);

  it('the same app without the bugs passes the same checks', async () => {
    await checkApp({
      app: () => new RoomChat(),
      messages: fc.oneof(fc.constant('{"type":"claim"}'), fc.constant('{"type":"leave"}'), chatMessages),
      invariants: {
        'no state for closed clients': noStateForClosedClients,
        'counts only confirmed sends': countsOnlyConfirmedSends,
        'no send to a client that is gone': noSendToGoneClient,
        'one seat holder': oneSeatHolder,
      },
      numRuns: 100,
    });
  }, 30_000);
});
