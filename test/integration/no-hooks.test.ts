/**
 * An app with only onStart and onData: the runtime lets the connection machine take the
 * handshake, open and close steps at once (fewer actor events, see
 * test/unit/connection-at-once.test.ts). Every way a connection ends must still walk the whole
 * lifecycle on the stream, with the right close code, and leave nothing behind.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { ConnectionTransition, Endpoint, LifecycleEvent, Message, Websocket } from '../../src/index.js';
import { closed, connect, startServer, waitFor, type StartedServer } from '../helpers/harness.js';

class EchoOnly implements Websocket {
  endpoint!: Endpoint;
  readonly received: string[] = [];
  onStart(endpoint: Endpoint): void {
    this.endpoint = endpoint;
  }
  async onData(clientId: number, message: Message): Promise<void> {
    const text = await message.text();
    this.received.push(text);
    await this.endpoint.send(text, clientId);
  }
}

const FULL_PATH = ['handshaking', 'handshaking.upgrading', 'open.opening', 'open.ready', 'closing.draining', 'closing.notifying', 'closed'];

let started: StartedServer<unknown> | null = null;
afterEach(async () => {
  await started?.server.stop();
  started = null;
});

async function setup(): Promise<{ app: EchoOnly; transitions: ConnectionTransition[] }> {
  const app = new EchoOnly();
  started = await startServer(app);
  const transitions: ConnectionTransition[] = [];
  started.server.lifecycle.subscribe((e: LifecycleEvent) => void (e.kind === 'connection' && transitions.push(e)));
  return { app, transitions };
}

const pathOf = (transitions: ConnectionTransition[]): string[] => transitions.map((t) => t.to);

describe('an app without onHandshake, onOpen and onClose', () => {
  it('echoes, and a client close walks the whole lifecycle with the peer code', async () => {
    const { app, transitions } = await setup();
    const client = await connect(started?.url ?? '');
    client.ws.send('hello');
    expect((await client.nextMessage()).data.toString()).toBe('hello');
    client.ws.close(4000, 'done');
    await waitFor(() => transitions.at(-1)?.to === 'closed');
    expect(pathOf(transitions)).toEqual(FULL_PATH);
    expect(transitions.at(-1)).toMatchObject({ closeCode: 4000, closeReason: 'done', outcome: 'closed' });
    expect(app.endpoint.getLocalClients()).toEqual([]);
  });

  it('endpoint.close, a dropped TCP connection and server.stop each end it with their code', async () => {
    const { app, transitions } = await setup();
    const url = started?.url ?? '';
    const [a, b, c] = await Promise.all([connect(url), connect(url), connect(url)]);
    await waitFor(() => app.endpoint.getLocalClients().length === 3);
    const [idA] = app.endpoint.getLocalClients();
    expect(await app.endpoint.close(idA ?? 0, 4001, 'bye')).toEqual({ ok: true });
    expect(await closed(a)).toEqual({ code: 4001, reason: 'bye' });
    b.ws.terminate();
    await waitFor(() => transitions.filter((t) => t.to === 'closed').length === 2);
    await started?.server.stop();
    expect((await closed(c)).code).toBe(1001);
    const closes = transitions.filter((t) => t.to === 'closed').map((t) => t.closeCode);
    expect(closes).toEqual([4001, 1006, 1001]);
    for (const id of new Set(transitions.map((t) => t.clientId))) {
      expect(pathOf(transitions.filter((t) => t.clientId === id))).toEqual(FULL_PATH);
    }
  });

  it('delivers a message that arrives right before the close frame (C4)', async () => {
    const { app, transitions } = await setup();
    const client = await connect(started?.url ?? '');
    client.ws.send('last');
    client.ws.close(1000);
    await waitFor(() => transitions.at(-1)?.to === 'closed');
    expect(app.received).toEqual(['last']);
    expect(client.ws.readyState).toBe(WebSocket.CLOSED);
    expect(transitions.at(-1)).toMatchObject({ closeCode: 1000, outcome: 'closed' });
  });
});
