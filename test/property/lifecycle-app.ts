/**
 * The app the lifecycle property test runs through the testing kit (`checkApp`). What it does
 * for a connection is planned in the connect query (reject, throw in a hook, close from
 * onData), so the kit's generator drives it; what it must then see is in `appInvariants`, on top
 * of the kit's own checks of C1–C5 and S1–S3.
 */
import fc from 'fast-check';
import type { Endpoint, HandshakeRequest, HandshakeResponse, Websocket } from '../../src/index.js';
import type { AppRun, ClientMessage, ConnectionRecord, ConnectPlan, HookFailure, Invariant } from '../../src/testing/index.js';

type FailingHook = 'onHandshake' | 'onOpen' | 'onData' | 'onClose';

export interface Plan {
  readonly reject: boolean;
  readonly fail: FailingHook | null;
  /** With `fail: 'onData'`: the index of the onData call that throws. */
  readonly failAt: number;
  /** The index of the onData call that calls `endpoint.close(id, 4100 + index)`, or null. */
  readonly closeAt: number | null;
}

/** No client ever has this id: a send to it must fail with WSA_ERR_UNKNOWN_CLIENT (S3). */
const UNKNOWN_ID = 2 ** 40;
const APP_CLOSE_CODE = 4100;

function planOf(query: URLSearchParams): Plan {
  const fail = query.get('fail') as FailingHook | null;
  const closeAt = query.get('closeAt');
  return { reject: query.has('reject'), fail, failAt: Number(query.get('at') ?? 0), closeAt: closeAt === null ? null : Number(closeAt) };
}

export class LifecycleApp implements Websocket<Plan> {
  endpoint: Endpoint | null = null;
  /** Per open client: its plan and how many onData calls it got; emptied in onClose. */
  readonly clients = new Map<number, { plan: Plan; calls: number }>();

  onStart(endpoint: Endpoint): void {
    this.endpoint = endpoint;
  }

  onHandshake(request: HandshakeRequest, response: HandshakeResponse): Plan {
    const plan = planOf(request.query);
    if (plan.fail === 'onHandshake') throw new Error('planned onHandshake failure');
    if (plan.reject) response.reject(403, 'rejected by plan');
    return plan;
  }

  onOpen(clientId: number, plan: Plan): void {
    this.clients.set(clientId, { plan, calls: 0 });
    if (plan.fail === 'onOpen') throw new Error('planned onOpen failure');
  }

  async onData(clientId: number): Promise<void> {
    const client = this.clients.get(clientId);
    const endpoint = this.endpoint as Endpoint;
    await endpoint.send('x', UNKNOWN_ID);
    if (client === undefined) return;
    const index = client.calls++;
    // Not awaited: the close begins at once, while this onData still runs.
    if (client.plan.closeAt === index) void endpoint.close(clientId, APP_CLOSE_CODE + index, 'closed by app');
    if (client.plan.fail === 'onData' && client.plan.failAt === index) throw new Error('planned onData failure');
  }

  async onClose(clientId: number): Promise<void> {
    const plan = this.clients.get(clientId)?.plan;
    this.clients.delete(clientId);
    // The kit's S3 check: a send called after the close began never reports success.
    await this.endpoint?.send('too late', clientId);
    if (plan?.fail === 'onClose') throw new Error('planned onClose failure');
  }
}

/** Only the planned failures may throw. */
export const plannedFailure = ({ hook, error }: HookFailure): boolean => error === `Error: planned ${hook} failure`;

/** Text (multi-byte UTF-8) or binary, mostly up to 2000 bytes, now and then 60–200 KB; the tag tells messages apart (C3). */
export const messages: fc.Arbitrary<ClientMessage> = fc
  .record({
    binary: fc.boolean(),
    tag: fc.nat(),
    size: fc.oneof({ weight: 12, arbitrary: fc.nat({ max: 2000 }) }, { weight: 1, arbitrary: fc.integer({ min: 60_000, max: 200_000 }) }),
  })
  .map(({ binary, tag, size }) => {
    const head = `${tag}:`;
    const filler = Math.max(0, size - head.length);
    if (!binary) return head + 'é'.repeat(Math.floor(filler / 2)) + 'x'.repeat(filler % 2);
    const bytes = Buffer.alloc(head.length + filler, tag & 0xff);
    bytes.write(head, 0, 'latin1');
    return new Uint8Array(bytes);
  });

const failure = fc.oneof(
  { weight: 10, arbitrary: fc.constant({}) },
  { weight: 1, arbitrary: fc.constant({ fail: 'onHandshake' }) },
  { weight: 1, arbitrary: fc.constant({ fail: 'onOpen' }) },
  { weight: 2, arbitrary: fc.nat({ max: 6 }).map((at) => ({ fail: 'onData', at: String(at) })) },
  { weight: 1, arbitrary: fc.constant({ fail: 'onClose' }) },
);

/** The plan of a connection, in its query (e.g. `/?fail=onData&at=2&closeAt=4`). */
export const connectPlans: fc.Arbitrary<ConnectPlan> = fc
  .record({ failure, closeAt: fc.option(fc.nat({ max: 6 }), { freq: 6 }), reject: fc.integer({ min: 0, max: 11 }) })
  .map(({ failure: fail, closeAt, reject }) => ({
    query: { ...fail, ...(closeAt === null ? {} : { closeAt: String(closeAt) }), ...(reject === 0 ? { reject: '1' } : {}) },
  }));

type Run = AppRun<LifecycleApp>;

function planFor(connection: ConnectionRecord): Plan {
  return planOf(new URLSearchParams(connection.plan.query));
}

/** Per connection that got onClose: its code, and what could have begun the close. */
function closes(run: Run): { connection: ConnectionRecord; code: number; peerCode: number | null; threw: boolean; appCodes: number[] }[] {
  return run.connections.flatMap((connection) => {
    const close = run.hookCalls.find((c) => c.hook === 'onClose' && c.connection === connection.label)?.close;
    if (close === undefined || close === null) return [];
    const { ended } = connection;
    const peerCode = ended === null ? null : ended.how === 'drop' ? 1006 : (ended.code ?? 1005);
    const threw = run.hookCalls.some((c) => c.connection === connection.label && (c.hook === 'onOpen' || c.hook === 'onData') && c.error !== null);
    const appCodes = run.endpointCalls.filter((c) => c.method === 'close' && c.clientIds?.[0] === connection.clientId).map((c) => c.code ?? 1000);
    return [{ connection, code: close.code, peerCode, threw, appCodes }];
  });
}

/** A sentence per failing item, or true. */
function all(problems: string[]): true | string {
  return problems.length === 0 || problems.join('; ');
}

export const appInvariants: Readonly<Record<string, Invariant<LifecycleApp>>> = {
  // C2 and S2.1: a throwing onHandshake gets 500, a rejecting one its status; an accepting one 101, or 503 if the stop came first.
  'handshakes answered as planned': (run) =>
    all(
      run.connections.flatMap((c) => {
        if (!run.hookCalls.some((h) => h.hook === 'onHandshake' && h.connection === c.label)) return [];
        const plan = planFor(c);
        const expected = plan.fail === 'onHandshake' ? [500] : plan.reject ? [403] : [101, 503];
        const got = c.outcome === 'open' ? 101 : c.status;
        return got !== null && expected.includes(got) ? [] : [`client ${c.label} got ${got ?? c.outcome}, expected ${expected.join(' or ')}`];
      }),
    ),
  // C5, narrower than the kit's (which also accepts wsactor's own protocol and limit codes): none of those may occur here.
  'every close code comes from the scenario': (run) =>
    all(
      closes(run).flatMap(({ connection, code, peerCode, threw, appCodes }) => {
        const allowed = [...(peerCode === null ? [] : [peerCode]), 1001, ...(threw ? [1011] : []), ...appCodes];
        return allowed.includes(code) ? [] : [`onClose of client ${connection.label} got ${code}, not one of ${allowed.join(', ')}`];
      }),
    ),
  // C5 without a stop in the middle: the client's own code, or 1001 from the final stop for a client that stayed.
  'the close code is the expected one when nothing else closed the client': (run) =>
    run.scenario.steps.some((s) => s.kind === 'stop') ||
    all(
      closes(run).flatMap(({ connection, code, peerCode, threw, appCodes }) => {
        if (threw || appCodes.length > 0) return [];
        const expected = peerCode ?? 1001;
        return code === expected ? [] : [`onClose of client ${connection.label} got ${code}, expected ${expected}`];
      }),
    ),
  // S3: the Endpoint answers for a bad id with an error, never a success.
  'a send to an unknown id fails with WSA_ERR_UNKNOWN_CLIENT': ({ endpointCalls }) =>
    all(
      endpointCalls
        .filter((c) => c.clientIds?.[0] === UNKNOWN_ID && c.failed[0]?.code !== 'WSA_ERR_UNKNOWN_CLIENT')
        .map((c) => `endpoint.send to ${UNKNOWN_ID} gave sent [${c.sent.join(', ')}], failed [${c.failed.map((f) => f.code).join(', ')}]`),
    ),
  'no state for closed clients': ({ app }) => app.clients.size === 0 || `the app still holds clients ${[...app.clients.keys()].join(', ')}`,
};
