/**
 * The id lists of broadcast (`exceptIds`) and multicast (`clientIds`), against a real server
 * and real `ws` clients on 127.0.0.1 (port 0): any iterable of ids is accepted, a duplicate
 * id counts once, and anything else resolves one WSA_ERR_INVALID_CLIENT_IDS failure (issue 13,
 * items 7 and 8).
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  ErrorCodes,
  InvalidArgumentError,
  type BroadcastResult,
  type Endpoint,
  type HandshakeRequest,
  type Websocket,
  type WsActorServer,
} from '../../src/index.js';
import type { ClientEndpoint } from '../../src/endpoint/endpoint.js';
import { connect, startServer, waitFor, type TestClient } from '../helpers/harness.js';

/** Keeps the endpoint and maps the `?tag=` of each upgrade to its client id. */
class IdsApp implements Websocket<string | null> {
  endpoint: Endpoint | null = null;
  readonly ids = new Map<string, number>();

  onStart(endpoint: Endpoint): void {
    this.endpoint = endpoint;
  }

  onHandshake(request: HandshakeRequest): string | null {
    return request.query.get('tag');
  }

  onOpen(id: number, tag: string | null): void {
    if (tag !== null) this.ids.set(tag, id);
  }
}

interface Opened {
  readonly client: TestClient;
  readonly id: number;
}

const servers: WsActorServer<string | null>[] = [];
const clients: TestClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function setup(): Promise<{ ep: Endpoint; open: (tag: string) => Promise<Opened> }> {
  const app = new IdsApp();
  const started = await startServer(app);
  servers.push(started.server);
  const open = async (tag: string): Promise<Opened> => {
    const client = await connect(`${started.url}?tag=${tag}`);
    clients.push(client);
    await waitFor(() => app.ids.has(tag), 2000, `onOpen of ${tag}`);
    return { client, id: app.ids.get(tag) as number };
  };
  return { ep: app.endpoint as Endpoint, open };
}

const text = (m: { data: Buffer; isBinary: boolean }): string => (m.isBinary ? `bin:${[...m.data].join(',')}` : m.data.toString('utf8'));
const sorted = (ids: readonly number[]): number[] => [...ids].sort((a, b) => a - b);

/** Sends `end` to every client, then returns what each received before it (drains the queue). */
async function seenBeforeMarker(ep: Endpoint, ...opened: Opened[]): Promise<string[][]> {
  expect(sorted((await ep.multicast('end', opened.map((o) => o.id))).sent)).toEqual(sorted(opened.map((o) => o.id)));
  const out: string[][] = [];
  for (const { client } of opened) {
    const got: string[] = [];
    for (let m = await client.nextMessage(); text(m) !== 'end'; m = await client.nextMessage()) got.push(text(m));
    out.push(got);
  }
  return out;
}

function* generate(...ids: number[]): Generator<number> {
  yield* ids;
}

/** The one failure a bad id list gives: id NaN, a typed InvalidArgumentError with a stable code. */
function expectInvalidIds(result: BroadcastResult): void {
  expect(result.sent).toEqual([]);
  expect(result.failed).toHaveLength(1);
  const [failure] = result.failed;
  expect(failure?.clientId).toBeNaN();
  expect(failure?.error).toBeInstanceOf(InvalidArgumentError);
  expect(failure?.error.code).toBe('WSA_ERR_INVALID_CLIENT_IDS');
  expect(failure?.error.code).toBe(ErrorCodes.INVALID_CLIENT_IDS);
}

describe('multicast with duplicate ids (issue 13 #7)', () => {
  it('delivers once and lists the id once in sent', async () => {
    const { ep, open } = await setup();
    const a = await open('a');
    const b = await open('b');
    expect(await ep.multicast('M1', [a.id, a.id])).toEqual({ sent: [a.id], failed: [] });
    const bin = await ep.multicastBinary(Buffer.from([9]), [b.id, a.id, b.id, b.id, a.id]);
    expect(bin).toEqual({ sent: [b.id, a.id], failed: [] });
    expect(await seenBeforeMarker(ep, a, b)).toEqual([['M1', 'bin:9'], ['bin:9']]);
  });

  it('lists a failing duplicate once in failed, for unknown ids and for bad data alike', async () => {
    const { ep, open } = await setup();
    const a = await open('a');
    const unknown = a.id + 1_000_000;
    const result = await ep.multicast('M2', [unknown, a.id, unknown, a.id]);
    expect(result.sent).toEqual([a.id]);
    expect(result.failed.map((f) => [f.clientId, f.error.code])).toEqual([[unknown, ErrorCodes.UNKNOWN_CLIENT]]);
    const badData = await ep.multicastBinary('not bytes' as never, [a.id, a.id]);
    expect(badData.sent).toEqual([]);
    expect(badData.failed.map((f) => [f.clientId, f.error.code])).toEqual([[a.id, ErrorCodes.INVALID_DATA]]);
    expect(await seenBeforeMarker(ep, a)).toEqual([['M2']]);
  });

  it('a multicast request from another node that repeats an id is delivered once too', async () => {
    const { ep, open } = await setup();
    const a = await open('a');
    // The Endpoint is the ClientEndpoint that answers other nodes; a peer of another version may repeat ids.
    const node = ep as unknown as ClientEndpoint;
    const reply = await node.serve({ op: 'multicast', binary: false, clientIds: [a.id, a.id, a.id + 9, a.id + 9] }, Buffer.from('peer'));
    expect(reply).toEqual({ op: 'delivery', sent: [a.id], failed: [{ clientId: a.id + 9, error: expect.objectContaining({ code: ErrorCodes.UNKNOWN_CLIENT }) as unknown }] });
    expect(await seenBeforeMarker(ep, a)).toEqual([['peer']]);
  });

  it('duplicate except ids are harmless', async () => {
    const { ep, open } = await setup();
    const a = await open('a');
    const b = await open('b');
    expect(await ep.broadcast('B', [a.id, a.id])).toEqual({ sent: [b.id], failed: [] });
    expect(await seenBeforeMarker(ep, a, b)).toEqual([[], ['B']]);
  });
});

describe('any iterable of ids (issue 13 #8)', () => {
  it('broadcast skips the ids of a Set, a generator or a Map key iterator', async () => {
    const { ep, open } = await setup();
    const a = await open('a');
    const b = await open('b');
    const c = await open('c');
    expect(sorted((await ep.broadcast('not a', new Set([a.id]))).sent)).toEqual(sorted([b.id, c.id]));
    expect(sorted((await ep.broadcastBinary(Buffer.from([1]), generate(b.id))).sent)).toEqual(sorted([a.id, c.id]));
    const byId = new Map([[c.id, 'c'], [a.id, 'a']]);
    expect((await ep.broadcast('only b', byId.keys())).sent).toEqual([b.id]);
    expect(await seenBeforeMarker(ep, a, b, c)).toEqual([['bin:1'], ['not a', 'only b'], ['not a', 'bin:1']]);
  });

  it('multicast reaches the ids of a Set, a generator or a Map key iterator', async () => {
    const { ep, open } = await setup();
    const a = await open('a');
    const b = await open('b');
    const c = await open('c');
    expect(sorted((await ep.multicast('a and b', new Set([a.id, b.id]))).sent)).toEqual(sorted([a.id, b.id]));
    expect((await ep.multicastBinary(Buffer.from([2]), generate(c.id, c.id))).sent).toEqual([c.id]);
    expect((await ep.multicast('b', new Map([[b.id, true]]).keys())).sent).toEqual([b.id]);
    expect(await seenBeforeMarker(ep, a, b, c)).toEqual([['a and b'], ['a and b', 'b'], ['bin:2']]);
  });

  it('an exceptIds that is not an iterable of ids fails typed and reaches nobody', async () => {
    const { ep, open } = await setup();
    const a = await open('a');
    const b = await open('b');
    // A string is iterable (of characters), but never a list of ids.
    for (const bad of [a.id, 'ab', new String('ab'), {}, { length: 1, 0: a.id }, true]) {
      expectInvalidIds(await ep.broadcast('B', bad as never));
      expectInvalidIds(await ep.broadcastBinary(Buffer.from('B'), bad as never));
    }
    expect(await seenBeforeMarker(ep, a, b)).toEqual([[], []]);
  });

  it('a clientIds that is not an iterable of ids fails typed and reaches nobody', async () => {
    const { ep, open } = await setup();
    const a = await open('a');
    for (const bad of [a.id, String(a.id), new String('1'), {}, null, undefined, { length: 1, 0: a.id }]) {
      expectInvalidIds(await ep.multicast('M', bad as never));
      expectInvalidIds(await ep.multicastBinary(Buffer.from('M'), bad as never));
    }
    expect(await seenBeforeMarker(ep, a)).toEqual([[]]);
  });

  it('null or undefined exceptIds means none', async () => {
    const { ep, open } = await setup();
    const a = await open('a');
    expect(await ep.broadcast('x', undefined)).toEqual({ sent: [a.id], failed: [] });
    expect(await ep.broadcast('y', null as never)).toEqual({ sent: [a.id], failed: [] });
    expect(await seenBeforeMarker(ep, a)).toEqual([['x', 'y']]);
  });

  it('an iterable that throws while iterated resolves the failure: no throw, no rejection', async () => {
    const { ep, open } = await setup();
    const a = await open('a');
    const boom = new Error('boom');
    const throwing = (): Iterable<number> => ({
      *[Symbol.iterator]() {
        yield a.id;
        throw boom;
      },
    });
    let pending: Promise<BroadcastResult>[] = [];
    expect(() => {
      pending = [ep.broadcast('B', throwing()), ep.multicast('M', throwing()), ep.multicastBinary(Buffer.from('M'), throwing())];
    }).not.toThrow();
    for (const result of await Promise.all(pending)) {
      expectInvalidIds(result);
      expect(result.failed[0]?.error.cause).toBe(boom);
    }
    expect(await seenBeforeMarker(ep, a)).toEqual([[]]);
  });

  it('arrays keep working, and a bad list is reported before bad data', async () => {
    const { ep, open } = await setup();
    const a = await open('a');
    expect(await ep.broadcast('arr', [] as readonly number[])).toEqual({ sent: [a.id], failed: [] });
    expect(await ep.multicast('arr2', [a.id] as readonly number[])).toEqual({ sent: [a.id], failed: [] });
    expectInvalidIds(await ep.multicast(42 as never, 7 as never));
    expectInvalidIds(await ep.broadcast(42 as never, 7 as never));
    expect(await seenBeforeMarker(ep, a)).toEqual([['arr', 'arr2']]);
  });
});
