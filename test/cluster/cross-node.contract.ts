/**
 * What every cluster adapter must give the Endpoint: calls that reach clients of other
 * nodes, exactly once, in send order. Run against the in-process adapter and Redis.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  ErrorCodes,
  nodeOf,
  UnknownClientError,
  type ClusterAdapter,
  type Endpoint,
  type Message,
  type Websocket,
  type WsActorServer,
} from '../../src/index.js';
import { closed, connect, startServer, waitFor, type TestClient } from '../helpers/harness.js';

/** Sends each client its id on open (`id:<id>`); records what it received and closes. */
export class NodeApp implements Websocket<null> {
  endpoint: Endpoint | null = null;
  readonly closes: { id: number; code: number; reason: string }[] = [];
  readonly received: string[] = [];

  onStart(endpoint: Endpoint): void {
    this.endpoint = endpoint;
  }

  async onOpen(id: number): Promise<void> {
    await this.endpoint?.send(`id:${id}`, id);
  }

  async onData(_id: number, message: Message): Promise<void> {
    this.received.push(await message.text());
  }

  onClose(id: number, code: number, reason: string): void {
    this.closes.push({ id, code, reason });
  }
}

interface Node {
  readonly server: WsActorServer<null>;
  readonly app: NodeApp;
  readonly url: string;
  readonly ep: Endpoint;
}

interface Client {
  readonly client: TestClient;
  readonly id: number;
}

const text = (data: Buffer): string => data.toString('utf8');

/** Registers the contract for adapters made by `makeAdapter` (one per server). */
export function describeCrossNode(name: string, makeAdapter: () => ClusterAdapter): void {
  describe(`Endpoint across nodes (${name})`, () => {
    const servers: WsActorServer<null>[] = [];
    const clients: TestClient[] = [];

    afterEach(async () => {
      for (const c of clients.splice(0)) c.ws.terminate();
      await Promise.all(servers.splice(0).map((s) => s.stop()));
    });

    async function node(): Promise<Node> {
      const app = new NodeApp();
      const started = await startServer<null>(app, { cluster: makeAdapter() });
      servers.push(started.server);
      return { server: started.server, app, url: started.url, ep: started.server.endpoint };
    }

    async function open(n: Node): Promise<Client> {
      const client = await connect(n.url);
      clients.push(client);
      const hello = text((await client.nextMessage()).data);
      return { client, id: Number(hello.slice(3)) };
    }

    it('client ids carry their node id; nodes get distinct ids', async () => {
      const a = await node();
      const b = await node();
      expect(a.server.nodeId).toBeGreaterThan(0);
      expect(b.server.nodeId).not.toBe(a.server.nodeId);
      const [a1, b1] = [await open(a), await open(b)];
      expect(nodeOf(a1.id)).toBe(a.server.nodeId);
      expect(nodeOf(b1.id)).toBe(b.server.nodeId);
      expect(Number.isSafeInteger(b1.id)).toBe(true);
    });

    it('send, sendBinary and close reach a client on another node', async () => {
      const a = await node();
      const b = await node();
      const remote = await open(b);
      expect(await a.ep.send('over there', remote.id)).toEqual({ ok: true });
      expect(text((await remote.client.nextMessage()).data)).toBe('over there');
      const bytes = Buffer.from([0, 255, 0, 1, 2]);
      expect(await a.ep.sendBinary(bytes, remote.id)).toEqual({ ok: true });
      const got = await remote.client.nextMessage();
      expect(got.isBinary).toBe(true);
      expect(got.data.equals(bytes)).toBe(true);

      expect(await a.ep.close(remote.id, 4001, 'from a')).toEqual({ ok: true });
      expect(await closed(remote.client)).toEqual({ code: 4001, reason: 'from a' });
      await waitFor(() => b.app.closes.length === 1);
      expect(b.app.closes).toEqual([{ id: remote.id, code: 4001, reason: 'from a' }]);
    });

    it('failures on the other node come back with their codes', async () => {
      const a = await node();
      const b = await node();
      const remote = await open(b);
      const missing = remote.id + 1000;
      const result = await a.ep.send('x', missing);
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.error).toBeInstanceOf(UnknownClientError);
        expect(result.error.code).toBe(ErrorCodes.UNKNOWN_CLIENT);
      }
      expect(await a.ep.getInfo(missing)).toBeUndefined();
      // Another node's validation still happens here first.
      const badCode = await a.ep.close(remote.id, 1005);
      expect(badCode.ok ? null : badCode.error.code).toBe(ErrorCodes.INVALID_CLOSE_CODE);
      // A node id nobody holds: unreachable, quickly, not a hang.
      const nobody = (b.server.nodeId + 500) * 2 ** 32 + 1;
      const lost = await a.ep.send('x', nobody);
      expect(lost.ok ? null : lost.error.code).toBe(ErrorCodes.NODE_UNREACHABLE);
    });

    it('broadcast reaches every client on every node exactly once, except the excluded', async () => {
      const a = await node();
      const b = await node();
      const c = await node();
      const all = [await open(a), await open(a), await open(b), await open(b), await open(c)];
      const [skipLocal, , skipRemote] = all as [Client, Client, Client];
      const result = await a.ep.broadcast('to all', [skipLocal.id, skipRemote.id]);
      const expected = all.filter((x) => x !== skipLocal && x !== skipRemote).map((x) => x.id);
      expect([...result.sent].sort()).toEqual([...expected].sort());
      expect(result.failed).toEqual([]);
      expect(result.unreachedNodes).toBe(0);
      // One more message after, so "exactly once" is checked against a later marker.
      await a.ep.broadcast('marker');
      for (const x of all) {
        await waitFor(() => x.client.messages.some((m) => text(m.data) === 'marker'));
        const got = x.client.messages.map((m) => text(m.data)).filter((t) => !t.startsWith('id:'));
        expect(got).toEqual(x === skipLocal || x === skipRemote ? ['marker'] : ['to all', 'marker']);
      }
    });

    it('multicast splits ids by node and reports each failure', async () => {
      const a = await node();
      const b = await node();
      const [a1, b1, b2] = [await open(a), await open(b), await open(b)];
      const unknownOnB = b2.id + 1000;
      const result = await a.ep.multicastBinary(Buffer.from('m'), [b1.id, a1.id, unknownOnB, b2.id]);
      expect([...result.sent].sort()).toEqual([a1.id, b1.id, b2.id].sort());
      expect(result.failed.map((f) => [f.clientId, f.error.code])).toEqual([[unknownOnB, ErrorCodes.UNKNOWN_CLIENT]]);
      for (const x of [a1, b1, b2]) expect(text((await x.client.nextMessage()).data)).toBe('m');
    });

    it('a duplicate id counts once: delivered once, listed once, on this node and on others', async () => {
      const a = await node();
      const b = await node();
      const [a1, b1] = [await open(a), await open(b)];
      const unknownOnB = b1.id + 1000;
      const nobody = (b.server.nodeId + 500) * 2 ** 32 + 1; // a node nobody holds
      const result = await a.ep.multicast('M1', [b1.id, a1.id, b1.id, unknownOnB, a1.id, unknownOnB, nobody, nobody]);
      expect([...result.sent].sort()).toEqual([a1.id, b1.id].sort());
      expect(result.failed.map((f) => [f.clientId, f.error.code])).toEqual([
        [unknownOnB, ErrorCodes.UNKNOWN_CLIENT],
        [nobody, ErrorCodes.NODE_UNREACHABLE],
      ]);
      // From the other side too, with ids from any iterable.
      expect([...(await b.ep.multicast('M2', new Set([a1.id, a1.id, b1.id]))).sent].sort()).toEqual([a1.id, b1.id].sort());
      const fromB = await b.ep.broadcast('marker', new Set([b1.id]));
      expect(fromB.sent).toEqual([a1.id]);
      expect(fromB.unreachedNodes).toBe(0);
      await a.ep.multicast('end', [a1.id, b1.id]);
      for (const [x, expected] of [[a1, ['M1', 'M2', 'marker', 'end']], [b1, ['M1', 'M2', 'end']]] as const) {
        await waitFor(() => x.client.messages.some((m) => text(m.data) === 'end'));
        expect(x.client.messages.slice(1).map((m) => text(m.data))).toEqual(expected);
      }
    });

    it('broadcast excepts may be any iterable, also for clients of other nodes', async () => {
      const a = await node();
      const b = await node();
      const all = [await open(a), await open(a), await open(b), await open(b)];
      const [skipLocal, , skipRemote] = all as [Client, Client, Client];
      function* skipped(): Generator<number> {
        yield skipRemote.id;
        yield skipLocal.id;
      }
      for (const except of [new Set([skipLocal.id, skipRemote.id]), skipped()]) {
        const result = await a.ep.broadcast('to most', except);
        expect([...result.sent].sort()).toEqual(all.filter((x) => x !== skipLocal && x !== skipRemote).map((x) => x.id).sort());
        expect(result.unreachedNodes).toBe(0);
      }
      const bad = await a.ep.broadcast('to none', skipRemote.id as never);
      expect(bad.sent).toEqual([]);
      expect(bad.failed.map((f) => f.error.code)).toEqual([ErrorCodes.INVALID_CLIENT_IDS]);
      await a.ep.broadcast('end');
      for (const x of all) {
        await waitFor(() => x.client.messages.some((m) => text(m.data) === 'end'));
        const got = x.client.messages.slice(1).map((m) => text(m.data));
        expect(got).toEqual(x === skipLocal || x === skipRemote ? ['end'] : ['to most', 'to most', 'end']);
      }
    });

    it('getClients and getInfo see every node; the local forms see this one', async () => {
      const a = await node();
      const b = await node();
      const [a1, b1, b2] = [await open(a), await open(b), await open(b)];
      expect((await a.ep.getClients()).sort()).toEqual([a1.id, b1.id, b2.id].sort());
      expect(a.ep.getLocalClients()).toEqual([a1.id]);
      const info = await a.ep.getInfo(b2.id);
      expect(info).toMatchObject({ client_id: b2.id, state: 'open', remote_address: '127.0.0.1', messages_sent: 1 });
      expect(a.ep.getLocalInfo(b2.id)).toBeUndefined();
    });

    it('keeps per-client order of one sender across sends, broadcasts and multicasts', async () => {
      const a = await node();
      const b = await node();
      const remote = await open(b);
      const local = await open(a);
      const sent: string[] = [];
      const calls: Promise<unknown>[] = [];
      for (let i = 0; i < 150; i++) {
        const m = String(i);
        sent.push(m);
        if (i % 3 === 0) calls.push(a.ep.send(m, remote.id));
        else if (i % 3 === 1) calls.push(a.ep.broadcast(m, [local.id]));
        else calls.push(a.ep.multicast(m, [remote.id]));
      }
      await Promise.all(calls);
      await waitFor(() => remote.client.messages.length === 151, 5000, 'all 150 messages');
      expect(remote.client.messages.slice(1).map((m) => text(m.data))).toEqual(sent);
    });

    it('a node that stopped is gone from broadcasts and unreachable by id', async () => {
      const a = await node();
      const b = await node();
      const [a1, b1] = [await open(a), await open(b)];
      await b.server.stop();
      expect(await closed(b1.client)).toMatchObject({ code: 1001 });
      const result = await a.ep.broadcast('after');
      expect(result.sent).toEqual([a1.id]);
      expect(result.unreachedNodes).toBe(0);
      const lost = await a.ep.send('x', b1.id);
      expect(lost.ok ? null : lost.error.code).toBe(ErrorCodes.NODE_UNREACHABLE);
      expect(await a.ep.getClients()).toEqual([a1.id]);
    });
  });
}
