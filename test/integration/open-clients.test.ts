/**
 * What "open clients" means: broadcast targets and getClients() leave out clients whose close
 * began; maxConnections counts connections that still hold a socket.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { BroadcastResult, ClientInfo, Endpoint, Websocket } from '../../src/index.js';
import { HandshakeRejected, closed, connect, deferred, startServer, waitFor, type StartedServer } from '../helpers/harness.js';

let running: StartedServer<unknown> | null = null;

afterEach(async () => {
  await running?.server.stop();
  running = null;
});

describe('open clients', () => {
  it('a broadcast in onClose does not target the leaving client; getClients leaves it out; getInfo still answers', async () => {
    let endpoint!: Endpoint;
    const seen: { result: BroadcastResult; clients: number[]; info: ClientInfo | undefined; leaving: number }[] = [];
    const opened: number[] = [];
    const app: Websocket<unknown> = {
      onStart: (e) => void (endpoint = e),
      onOpen: (id) => void opened.push(id),
      async onClose(id) {
        const clients = await endpoint.getClients();
        const info = await endpoint.getInfo(id);
        seen.push({ result: await endpoint.broadcast(`left ${id}`), clients, info, leaving: id });
      },
    };
    running = await startServer(app);
    const a = await connect(running.url);
    const b = await connect(running.url);
    await waitFor(() => opened.length === 2);
    const [idA, idB] = opened as [number, number];
    a.ws.close(1000);
    await waitFor(() => seen.length === 1, 2000, 'onClose of a');
    const [first] = seen;
    expect(first?.result).toEqual({ sent: [idB], failed: [] });
    expect(first?.clients).toEqual([idB]);
    expect(first?.info?.state).toBe('closing');
    expect((await b.nextMessage()).data.toString()).toBe(`left ${idA}`);
    expect(await endpoint.getClients()).toEqual([idB]);
  });

  it('a client whose close began is not in getClients() even before its socket is gone', async () => {
    let endpoint!: Endpoint;
    const opened: number[] = [];
    const app: Websocket<unknown> = {
      onStart: (e) => void (endpoint = e),
      onOpen: (id) => void opened.push(id),
    };
    // The client never answers our close frame, so the close stays in progress.
    running = await startServer(app, { closePeriodMs: 500 });
    const a = await connect(running.url);
    a.ws.pause();
    await waitFor(() => opened.length === 1);
    const id = opened[0] as number;
    expect(await endpoint.close(id, 4000)).toEqual({ ok: true });
    expect(await endpoint.getClients()).toEqual([]);
    expect(endpoint.getLocalClients()).toEqual([]);
    expect((await endpoint.broadcast('x')).sent).toEqual([]);
    expect(endpoint.getLocalInfo(id)?.state).toBe('closing');
  });

  it('maxConnections: a client that left while its onClose still runs no longer counts', async () => {
    const closing = deferred();
    const release = deferred();
    const app: Websocket<unknown> = {
      async onClose() {
        closing.resolve();
        await release.promise;
      },
    };
    running = await startServer(app, { maxConnections: 1 });
    const a = await connect(running.url);
    // A second client while the first holds its socket: 503.
    await expect(connect(running.url)).rejects.toBeInstanceOf(HandshakeRejected);
    a.ws.close(1000);
    await closed(a);
    await closing.promise;
    const b = await connect(running.url);
    expect(b.ws.readyState).toBe(b.ws.OPEN);
    b.ws.terminate();
    release.resolve();
  });
});
