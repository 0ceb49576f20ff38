/**
 * The checks of an app with a per-client machine (see `checkRun`): each message became at
 * most one event, taken in the order sent, moving the machine as its own transition says.
 */
import { clientName } from './checks.js';
import { stableJson, type RunOutcome } from './run.js';
import { describeMessage } from './scenario.js';
import type { ConnectionRecord } from './trace.js';

/**
 * A client with a machine: each message it sent became at most one event (decoded by the
 * app's `decode`), taken in the order sent (C3); each event the machine took moved it as the
 * machine's own transition says, and wsactor reported that state (`machine_state`); a client
 * that closed by itself had all of its messages either taken or counted in
 * `messages_rejected` (C4), unless its machine or the app closed it first.
 */
export function checkMachine(run: RunOutcome<unknown>, record: ConnectionRecord, close: { code: number; reason: string } | null, closedByApp: boolean): { rule: string; text: string }[] {
  const machine = run.machine;
  const id = record.clientId;
  if (machine === null || id === null) return [];
  const v: { rule: string; text: string }[] = [];
  const name = clientName(record.label);
  const steps = machine.steps.filter((step) => step.clientId === id);
  for (const step of steps) {
    const event = JSON.stringify(step.event);
    if (step.expected !== null && step.actual !== step.expected) {
      v.push({
        rule: 'machine',
        text: `the machine of ${name} took ${event} in state ${step.from} and went to ${step.actual ?? '?'}, but the machine's own transition from that snapshot goes to ${step.expected}`,
      });
      break;
    }
    if (step.reported !== undefined && step.reported !== step.actual) {
      v.push({ rule: 'machine', text: `after ${event}, getLocalInfo(${id}).machine_state of ${name} was ${JSON.stringify(step.reported)}, but its machine is in ${step.actual ?? '?'}` });
      break;
    }
  }
  // C3: the events are the client's messages, decoded, in the order sent (some may have been rejected between them).
  const decoded = machine.decoded.get(record.label) ?? [];
  let k = 0;
  for (const [i, step] of steps.entries()) {
    const json = stableJson(step.event);
    while (k < decoded.length && decoded[k] !== json) k++;
    if (k >= decoded.length) {
      v.push({
        rule: 'C3',
        text: `the machine of ${name} got ${JSON.stringify(step.event)} as event ${i + 1}, which is not what a message the client sent after the ones before decodes to: out of order, altered or made up`,
      });
      break;
    }
    k++;
  }
  const rejected = machine.rejected.get(id);
  if (rejected !== undefined && steps.length + rejected > record.sent.length) {
    v.push({ rule: 'C3', text: `${name} sent ${record.sent.length} message(s), but its machine took ${steps.length} and ${rejected} were rejected` });
  }
  // C4: a peer close delivers everything sent before it, to the machine or to the rejected count.
  const ended = record.ended;
  if (
    ended?.how === 'close' &&
    close !== null &&
    close.code === (ended.code ?? 1005) &&
    close.reason === ended.reason &&
    !closedByApp &&
    !machine.ended.has(id) &&
    run.stopCut === 0 &&
    rejected !== undefined &&
    steps.length + rejected < record.sent.length
  ) {
    const lost = record.sent[steps.length + rejected];
    v.push({
      rule: 'C4',
      text:
        `${name} sent ${record.sent.length} message(s), then closed with ${close.code}, but its machine took ${steps.length} and ${rejected} were rejected (messages_rejected)` +
        (lost === undefined ? '' : `: message ${steps.length + rejected + 1} (${describeMessage(lost.message)}, step ${lost.step}) or an earlier one never arrived`),
    });
  }
  return v;
}
