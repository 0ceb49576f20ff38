/**
 * The lifecycle contract (docs/lifecycle.md) as checks over a recorded scenario. Each check
 * returns a readable violation; an empty list means the run honoured C1-C5 and S1-S3.
 */
import type { ClientOutcome, HookRecord, ScenarioResult } from './run-scenario.js';
import type { Scenario } from './scenario.js';

function find(records: HookRecord[], hook: HookRecord['hook'], phase: HookRecord['phase']): HookRecord[] {
  return records.filter((r) => r.hook === hook && r.phase === phase);
}

function isPrefix(prefix: readonly (string | null | undefined)[], of: readonly string[]): boolean {
  return prefix.length <= of.length && prefix.every((v, k) => v === of[k]);
}

export function checkScenario(scenario: Scenario, result: ScenarioResult): string[] {
  const v: string[] = [...result.appViolations];
  const { records } = result;

  // S1: onStart settles before the first onHandshake.
  const startEnd = find(records, 'onStart', 'end');
  if (find(records, 'onStart', 'start').length !== 1 || startEnd.length !== 1) v.push('S1: onStart not called exactly once');
  const firstHandshake = find(records, 'onHandshake', 'start')[0];
  if (firstHandshake !== undefined && startEnd[0] !== undefined && firstHandshake.seq < startEnd[0].seq) {
    v.push('S1: onHandshake started before onStart settled');
  }

  // S2: onStop exactly once; stop resolves after every onClose; nothing left open.
  const stopStart = find(records, 'onStop', 'start');
  const stopEnd = find(records, 'onStop', 'end');
  if (stopStart.length !== 1 || stopEnd.length !== 1) v.push(`S2: onStop ran ${stopStart.length} times`);
  for (const close of find(records, 'onClose', 'end')) {
    if (close.seq > result.stopResolvedSeq) v.push(`S2: onClose of client ${String(close.clientId)} settled after stop() resolved`);
  }
  if (result.clientsAfterStop.length > 0) v.push(`S2: getClients() after stop: ${result.clientsAfterStop.join(',')}`);
  if (result.unclosedClientsAfterStop > 0) v.push(`S2: ${result.unclosedClientsAfterStop} client sockets still open after stop`);
  if (result.late !== null) {
    if (result.late.opened) v.push('S2: a client connecting after stop() was opened');
    const { refused, reset, rejectedStatus } = result.late;
    if (!refused && !reset && rejectedStatus !== 503) {
      v.push(`S2: late client got ${String(rejectedStatus)} instead of 503, refusal or reset`);
    }
    if (records.some((r) => r.index === -1)) v.push('S2: onHandshake ran for a client connecting after stop()');
  }
  if (records.some((r) => r.hook === 'onData' && r.index === null)) v.push('C1: onData for a client that never opened');

  scenario.clients.forEach((plan, index) => {
    const outcome = result.clients[index] as ClientOutcome;
    v.push(...checkClient(scenario, result, index, outcome, stopEnd[0]?.seq ?? Infinity).map((m) => `client ${index}: ${m}`));
    void plan;
  });
  return v;
}

function checkClient(scenario: Scenario, result: ScenarioResult, index: number, outcome: ClientOutcome, onStopEndSeq: number): string[] {
  const v: string[] = [];
  const plan = scenario.clients[index];
  if (plan === undefined) return ['no plan'];
  const mine = result.records.filter((r) => r.index === index);
  const handshakeEnd = find(mine, 'onHandshake', 'end');
  const opens = find(mine, 'onOpen', 'start');

  if (handshakeEnd.length > 1) v.push('onHandshake ran more than once');
  if (opens.length > 1) v.push('onOpen ran more than once');
  // C2: onOpen iff the client saw the 101.
  if (opens.length === 1 !== outcome.opened) v.push(`C2: onOpen called=${opens.length === 1} but client opened=${outcome.opened}`);
  const hs = handshakeEnd[0];
  if (hs !== undefined) {
    const expected = plan.failure.hook === 'onHandshake' ? 500 : plan.reject ? 403 : null;
    if (expected !== null && outcome.rejectedStatus !== expected) {
      v.push(`handshake should be rejected with ${expected}, client saw ${String(outcome.rejectedStatus)}`);
    }
    if (expected !== null && opens.length > 0) v.push('C2: onOpen after a rejected handshake');
  }
  if (outcome.rejectedStatus === 503 && opens.length > 0) v.push('C2: onOpen after 503');
  const open = opens[0];
  if (open === undefined) {
    if (find(mine, 'onClose', 'start').length > 0) v.push('C2: onClose without onOpen');
    return v;
  }
  const id = open.clientId;
  const byId = result.records.filter((r) => r.clientId === id);
  const openEnd = find(byId, 'onOpen', 'end')[0];
  const closeStarts = find(byId, 'onClose', 'start');
  const closeEnds = find(byId, 'onClose', 'end');

  // C1: handshake before open before data before close; nothing after close.
  if (hs === undefined || hs.seq > open.seq) v.push('C1: onOpen before onHandshake settled');
  if (openEnd === undefined) return [...v, 'C1: onOpen never settled'];
  if (closeStarts.length !== 1 || closeEnds.length !== 1) return [...v, `C2: onClose called ${closeStarts.length} times`];
  const close = closeStarts[0] as HookRecord;
  const closeEnd = closeEnds[0] as HookRecord;
  if (close.seq < openEnd.seq) v.push('C1: onClose before onOpen settled');
  const lastSeq = Math.max(...byId.map((r) => r.seq));
  if (lastSeq > closeEnd.seq) v.push('C5: a hook ran after onClose');

  // C3: order and overlap of onData.
  let active = 0;
  for (const r of byId) {
    if (r.hook !== 'onData') continue;
    if (r.seq < openEnd.seq) v.push('C1: onData before onOpen settled');
    if (r.seq > close.seq) v.push('C1: onData after onClose began');
    active += r.phase === 'start' ? 1 : -1;
    if (active > scenario.concurrency) v.push(`C3: ${active} onData calls overlapped (concurrency ${scenario.concurrency})`);
  }
  const delivered = find(byId, 'onData', 'start').map((r) => r.payloadId);
  if (delivered.some((p) => p === null)) v.push('C3: a message arrived corrupted');
  if (!isPrefix(delivered, outcome.sent)) {
    v.push(`C3: delivered [${delivered.join(' ')}] is not a prefix of sent [${outcome.sent.join(' ')}]`);
  }

  // C4: accounting, and full delivery when the peer's close began it.
  const failed = byId.some((r) => r.phase === 'end' && r.threw === true && (r.hook === 'onOpen' || r.hook === 'onData'));
  const appCloses = byId.filter((r) => r.hook === 'appClose');
  const info = close.info;
  if (info === undefined) v.push('getInfo returned nothing inside onClose');
  else if (delivered.length + info.messages_dropped !== info.messages_read) {
    v.push(`C4: delivered ${delivered.length} + dropped ${info.messages_dropped} != read ${info.messages_read}`);
  }
  const peerCode = plan.ending.kind === 'close' ? plan.ending.code : plan.ending.kind === 'emptyClose' ? 1005 : plan.ending.kind === 'drop' ? 1006 : null;
  const code = close.code as number;
  const byPeer = peerCode !== null && code === peerCode && !failed && appCloses.length === 0;
  if (byPeer && plan.ending.kind !== 'drop' && delivered.length !== outcome.sent.length) {
    v.push(`C4: peer closed with ${code} but only ${delivered.length} of ${outcome.sent.length} messages were delivered`);
  }
  if (byPeer && info !== undefined && info.messages_dropped !== 0) v.push(`C4: ${info.messages_dropped} messages dropped on a peer close`);

  // C5: the code in onClose.
  const allowed = new Set<number>();
  if (peerCode !== null) allowed.add(peerCode);
  allowed.add(1001); // server.stop() always runs at the end of a scenario
  if (failed) allowed.add(1011);
  for (const r of appCloses) allowed.add(r.code as number);
  if (!allowed.has(code)) v.push(`C5: onClose code ${code} not in [${[...allowed].join(',')}]`);
  if (plan.ending.kind !== 'drop' && outcome.closeCode !== null && outcome.closeCode !== 1006 && outcome.closeCode !== code) {
    v.push(`C5: client saw close code ${outcome.closeCode} but onClose got ${code}`);
  }
  if (scenario.stopAtMs === null && !failed && appCloses.length === 0) {
    const expected = peerCode ?? 1001;
    if (code !== expected) v.push(`C5: expected close code ${expected}, onClose got ${code}`);
    if (plan.ending.kind === 'close' && code === expected && close.reason !== plan.ending.reason) {
      v.push(`C5: expected reason ${JSON.stringify(plan.ending.reason)}, got ${JSON.stringify(close.reason)}`);
    }
  }
  if (code === 1001 && close.seq < onStopEndSeq) v.push('S2: client closed with 1001 before onStop settled');

  // S3: nothing sent after the close began succeeds.
  if (close.lateSendOk === true) v.push('S3: a send inside onClose succeeded');
  return v;
}
