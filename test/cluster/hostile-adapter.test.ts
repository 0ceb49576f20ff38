/**
 * The Endpoint never rejects and never throws, whatever a custom cluster adapter does:
 * `request`/`requestAll` that throw, reject with anything, or resolve with garbage (null, a
 * reply of another kind, bad fields, getters that throw). Every call resolves with a typed
 * result (`WSA_ERR_NODE_UNREACHABLE` naming the node, local results for broadcasts and
 * getClients), the fault is counted, and `serve` answers a malformed request from another
 * node with a failure reply instead of throwing. A real server on 127.0.0.1 with real `ws`
 * clients: local clients still get broadcasts and multicasts.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ClientEndpoint } from '../../src/endpoint/endpoint.js';
import {
  ErrorCodes,
  NODE_ID_SHIFT,
  NodeUnreachableError,
  type AdapterStats,
  type BroadcastResult,
  type ClusterAdapter,
  type Gathered,
  type NodeReply,
  type NodeRequest,
  type RequestHandler,
  type SendResult,
  type WsActorServer,
} from '../../src/index.js';
import { captureLogger, connect, startServer, type TestClient } from '../helpers/harness.js';

/** What the adapter does when called: its return value, or a throw. */
type Behaviour = (request: NodeRequest) => unknown;

/** A cluster adapter that joins as node 1 and then does whatever the test says. */
class HostileAdapter implements ClusterAdapter {
  readonly stats: AdapterStats = { published: 0, publishFailed: 0, received: 0, gaps: 0, requestTimeouts: 0, reconnects: 0 };
  handler: RequestHandler | null = null;
  onRequest: Behaviour = () => Promise.reject(new NodeUnreachableError(2, 'not set'));
  onRequestAll: Behaviour = () => Promise.resolve({ replies: [], unreached: 0 });

  join(handler: RequestHandler): Promise<number> {
    this.handler = handler;
    return Promise.resolve(1);
  }

  request(_nodeId: number, request: NodeRequest): Promise<NodeReply> {
    return this.onRequest(request) as Promise<NodeReply>;
  }

  requestAll(request: NodeRequest): Promise<Gathered> {
    return this.onRequestAll(request) as Promise<Gathered>;
  }

  leave(): Promise<void> {
    return Promise.resolve();
  }
}

/** A reply of the kind the request asks for, with fields of the wrong type. */
function malformed(request: NodeRequest): unknown {
  switch (request.op) {
    case 'broadcast':
    case 'multicast':
      return { op: 'delivery', sent: 'ab', failed: 5 };
    case 'info':
      return { op: 'info', info: 42 };
    case 'clients':
      return { op: 'clients', clientIds: 'ab' };
    default:
      return { op: 'result', error: { code: 'NOT_A_CODE', message: 1 } };
  }
}

const throwing = (): never => {
  throw new Error('getter failed');
};

/** [what the adapter does, request(), requestAll()] */
const hostilities: [string, Behaviour, Behaviour][] = [
  [
    'throws an Error synchronously',
    () => {
      throw new Error('boom');
    },
    () => {
      throw new Error('boom');
    },
  ],
  [
    'throws a non-Error synchronously',
    () => {
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- a hostile adapter throws anything
      throw 'boom';
    },
    () => {
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- a hostile adapter throws anything
      throw 'boom';
    },
  ],
  ['rejects with a plain Error', () => Promise.reject(new Error('boom')), () => Promise.reject(new Error('boom'))],
  [
    'rejects with a non-Error',
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- a hostile adapter rejects with anything
    () => Promise.reject(42),
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- a hostile adapter rejects with anything
    () => Promise.reject(42),
  ],
  ['resolves null', () => Promise.resolve(null), () => Promise.resolve(null)],
  ['returns undefined instead of a promise', () => undefined, () => undefined],
  ['returns a thenable whose then() throws', () => ({ then: throwing }), () => ({ then: throwing })],
  [
    'resolves a reply of the wrong kind',
    () => Promise.resolve({ op: 'clients', clientIds: [] }),
    () => Promise.resolve({ replies: [{ op: 'result', error: null }], unreached: 0 }),
  ],
  [
    'resolves replies with fields of the wrong type',
    (request) => Promise.resolve(malformed(request)),
    (request) => Promise.resolve({ replies: [malformed(request), null], unreached: 0 }),
  ],
  [
    'resolves no replies array / an error without a message',
    () => Promise.resolve({ op: 'result', error: { code: ErrorCodes.SEND_FAILED } }),
    () => Promise.resolve({ replies: 'ab', unreached: 0 }),
  ],
  [
    'resolves a bad unreached count / a failure without a client id',
    () => Promise.resolve({ op: 'delivery', sent: [], failed: [{ clientId: 'x', error: { code: ErrorCodes.SEND_FAILED, message: 'm' } }] }),
    () => Promise.resolve({ replies: [], unreached: -1 }),
  ],
  [
    'resolves objects whose getters throw',
    () => Promise.resolve({ get op(): never { return throwing(); } }),
    () => Promise.resolve({ get replies(): never { return throwing(); }, unreached: 0 }),
  ],
];

const REMOTE_NODE = 2;
const remote = REMOTE_NODE * NODE_ID_SHIFT + 7;

let server: WsActorServer<null>;
let adapter: HostileAdapter;
let client: TestClient;
let local: number;
let ep: ClientEndpoint;

beforeAll(async () => {
  adapter = new HostileAdapter();
  const started = await startServer<null>({}, { cluster: adapter });
  server = started.server;
  ep = server.endpoint as ClientEndpoint;
  client = await connect(started.url);
  for (let i = 0; i < 100 && ep.getLocalClients().length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  [local] = ep.getLocalClients() as [number];
  expect(Math.floor(local / NODE_ID_SHIFT)).toBe(1);
});

afterAll(async () => {
  client.ws.terminate();
  await server.stop();
});

/** Calls `call` and checks it did not throw synchronously; resolves with what it resolved with. */
async function resolves<T>(call: () => Promise<T>): Promise<T> {
  let pending: Promise<T> | undefined;
  expect(() => {
    pending = call();
  }).not.toThrow();
  return (await pending) as T;
}

function expectUnreachable(error: unknown): void {
  expect(error).toBeInstanceOf(NodeUnreachableError);
  expect((error as NodeUnreachableError).code).toBe(ErrorCodes.NODE_UNREACHABLE);
  expect((error as NodeUnreachableError).nodeId).toBe(REMOTE_NODE);
}

function expectSendFailure(result: SendResult): void {
  expect(result.ok).toBe(false);
  if (!result.ok) expectUnreachable(result.error);
}

async function expectReceived(text: string): Promise<void> {
  expect((await client.nextMessage()).data.toString('utf8')).toBe(text);
}

describe.each(hostilities)('an adapter that %s', (_name, onRequest, onRequestAll) => {
  let faults = 0;
  beforeAll(() => {
    adapter.onRequest = onRequest;
    adapter.onRequestAll = onRequestAll;
  });
  afterEach(() => {
    // Every misbehaviour is counted.
    expect(ep.clusterFaults).toBeGreaterThan(faults);
    faults = ep.clusterFaults;
  });

  it('send and sendBinary to a client of another node resolve WSA_ERR_NODE_UNREACHABLE naming that node', async () => {
    expectSendFailure(await resolves(() => ep.send('x', remote)));
    expectSendFailure(await resolves(() => ep.sendBinary(Buffer.from('x'), remote)));
  });

  it('close of a client of another node resolves WSA_ERR_NODE_UNREACHABLE', async () => {
    expectSendFailure(await resolves(() => ep.close(remote, 4000, 'bye')));
  });

  it('multicast and multicastBinary reach the local client and fail the remote one', async () => {
    for (const [call, text] of [
      [() => ep.multicast('m', [local, remote]), 'm'],
      [() => ep.multicastBinary(Buffer.from('mb'), [remote, local]), 'mb'],
    ] as const) {
      const result: BroadcastResult = await resolves(call);
      expect(result.sent).toEqual([local]);
      expect(result.failed.map((f) => f.clientId)).toEqual([remote]);
      expectUnreachable(result.failed[0]?.error);
      await expectReceived(text);
    }
  });

  it('broadcast and broadcastBinary reach the local client and report at least one node unreached', async () => {
    for (const [call, text] of [
      [() => ep.broadcast('b'), 'b'],
      [() => ep.broadcastBinary(Buffer.from('bb')), 'bb'],
    ] as const) {
      const result: BroadcastResult = await resolves(call);
      expect(result.sent).toEqual([local]);
      expect(result.failed).toEqual([]);
      expect(result.unreachedNodes).toBeGreaterThanOrEqual(1);
      await expectReceived(text);
    }
  });

  it('getClients resolves with the local clients', async () => {
    expect(await resolves(() => ep.getClients())).toEqual([local]);
  });

  it('getInfo of a client of another node resolves undefined', async () => {
    expect(await resolves(() => ep.getInfo(remote))).toBeUndefined();
  });
});

describe('serve (requests from other nodes)', () => {
  const payload = Buffer.from('peer');
  const cases: [string, unknown, unknown][] = [
    ['null', null, payload],
    ['a number', 42, payload],
    ['no op', {}, payload],
    ['an unknown op', { op: 'explode' }, payload],
    ['send without a client id', { op: 'send', binary: false }, payload],
    ['send with a string binary flag', { op: 'send', clientId: 0, binary: 'yes' }, payload],
    ['send with a string payload', { op: 'send', clientId: 0, binary: false }, 'peer'],
    ['broadcast with a number as except', { op: 'broadcast', binary: false, except: 5 }, payload],
    ['multicast with null ids', { op: 'multicast', binary: false, clientIds: null }, payload],
    ['multicast with a string of ids', { op: 'multicast', binary: false, clientIds: '12' }, payload],
    ['close without a reason', { op: 'close', clientId: 0, code: 1000 }, null],
    ['info with a string id', { op: 'info', clientId: '1' }, null],
    ['an op getter that throws', { get op(): never { return throwing(); } }, payload],
  ];

  it.each(cases)('answers %s with a failure reply, never a throw', async (_name, request, data) => {
    // Client id 0 stands for the local client (ids are known only once connected).
    const withLocal = (value: unknown): unknown =>
      typeof value === 'object' && value !== null && (value as { clientId?: unknown }).clientId === 0 ? { ...value, clientId: local } : value;
    const handler = adapter.handler as RequestHandler;
    const before = ep.clusterFaults;
    let reply: unknown;
    expect(() => {
      reply = handler(withLocal(request) as NodeRequest, data as Buffer);
    }).not.toThrow();
    expect(await Promise.resolve(reply)).toEqual({
      op: 'result',
      error: { code: ErrorCodes.NODE_UNREACHABLE, message: expect.stringMatching(/^Node 1 unreachable: /) as unknown },
    });
    expect(ep.clusterFaults).toBe(before + 1);
  });

  it('refuses a close with a code that cannot be sent, and the client stays open', async () => {
    const handler = adapter.handler as RequestHandler;
    for (const code of [5, 1005, Number.NaN]) {
      const reply = await handler({ op: 'close', clientId: local, code, reason: '' }, null);
      expect(reply).toMatchObject({ op: 'result', error: { code: ErrorCodes.INVALID_CLOSE_CODE } });
    }
    const long = await handler({ op: 'close', clientId: local, code: 1000, reason: 'x'.repeat(200) }, null);
    expect(long).toMatchObject({ op: 'result', error: { code: ErrorCodes.INVALID_CLOSE_REASON } });
  });

  it('delivered none of the malformed requests: the next message the client gets is a fresh local send', async () => {
    expect(await ep.send('still here', local)).toEqual({ ok: true });
    await expectReceived('still here');
  });
});

describe('cluster-fault reports', () => {
  it('go to the logger at most once per 10 s, with the number of faults between; a throwing logger changes nothing', async () => {
    const { logger, entries } = captureLogger();
    const hostile = new HostileAdapter();
    hostile.onRequestAll = () => Promise.reject(new Error('down'));
    const node = new ClientEndpoint(new Map(), 0, logger);
    node.joined(1, hostile);
    const now = vi.spyOn(Date, 'now').mockReturnValue(1_000_000);
    try {
      for (let i = 0; i < 3; i++) expect(await node.getClients()).toEqual([]);
      expect(entries.map((e) => e.message)).toEqual(['cluster fault: requestAll() rejected']);
      expect(entries[0]?.error).toEqual(new Error('down'));
      now.mockReturnValue(1_010_000);
      expect(await node.broadcast('x')).toEqual({ sent: [], failed: [], unreachedNodes: 1 });
      expect(entries.map((e) => e.message)).toEqual([
        'cluster fault: requestAll() rejected',
        'cluster fault: requestAll() rejected (2 more cluster faults since the last report)',
      ]);
      expect(node.clusterFaults).toBe(4);

      const angry = new ClientEndpoint(new Map(), 0, {
        error: () => {
          throw new Error('logger down');
        },
        warn: () => undefined,
      });
      angry.joined(1, hostile);
      expect(await angry.getClients()).toEqual([]);
      expect(angry.clusterFaults).toBe(1);
    } finally {
      now.mockRestore();
    }
  });
});
