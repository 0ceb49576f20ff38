/**
 * Per-client app machines over real sockets: messages become events in order, the policy for
 * unexpected ones, busy states, final states and errors closing the client, the close event
 * before onClose, hibernation, and the inspector seeing each machine as its connection's child.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { assign, fromPromise, setup, type AnyMachineSnapshot, type InspectionEvent } from 'xstate';
import { clientMachine, clientOf, type ClientCloseEvent, type ClientMachineInput, type UnexpectedPolicy, type Websocket } from '../../src/index.js';
import { closed, connect, startServer, waitFor, type StartedServer, type TestClient } from '../helpers/harness.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

type Ev = { type: 'join'; name: string } | { type: 'inc' } | { type: 'slow'; ms: number } | { type: 'quit' } | { type: 'boom' } | ClientCloseEvent;

interface Ctx {
  id: number;
  name: string;
  n: number;
  seen: string[];
}

export const roomMachine = setup({
  types: { context: {} as Ctx, events: {} as Ev, input: {} as ClientMachineInput<{ tag: string }> },
  actors: { wait: fromPromise<void, number>(({ input }) => sleep(input)) },
}).createMachine({
  id: 'room',
  context: ({ input }) => ({ id: input.clientId, name: input.handshake.tag, n: 0, seen: [] }),
  initial: 'lobby',
  on: { 'wsactor.close': { actions: assign({ seen: ({ context, event }) => [...context.seen, `close ${event.code}`] }) } },
  states: {
    lobby: {
      on: {
        join: {
          target: 'room',
          actions: [assign({ name: ({ event }) => event.name, seen: ({ context }) => [...context.seen, 'join'] }), ({ self, event }) => void clientOf(self).send({ type: 'joined', name: event.name })],
        },
      },
    },
    room: {
      on: {
        inc: { actions: [assign({ n: ({ context }) => context.n + 1, seen: ({ context }) => [...context.seen, 'inc'] }), ({ self, context }) => void clientOf(self).send(`n=${context.n}`)] },
        slow: 'working',
        quit: 'done',
        boom: {
          actions: () => {
            throw new Error('boom in an action');
          },
        },
      },
    },
    working: {
      tags: ['busy'],
      invoke: { src: 'wait', input: ({ event }) => (event as { ms: number }).ms, onDone: { target: 'room', actions: ({ self }) => void clientOf(self).send('worked') } },
    },
    done: { type: 'final' },
  },
  // The machine's output when it reaches a final state: the client is closed with it.
  output: { code: 4000, reason: 'bye' },
});

let running: StartedServer<{ tag: string }> | null = null;

afterEach(async () => {
  await running?.server.stop();
  running = null;
});

function app(unexpected: UnexpectedPolicy = 'error', record?: (id: number, code: number, snapshot: AnyMachineSnapshot | undefined) => void): Websocket<{ tag: string }> {
  return {
    onHandshake: () => ({ tag: 'guest' }),
    onClose: (id, code, _reason, machine) => record?.(id, code, machine),
    clientMachine: clientMachine(roomMachine, { unexpected }),
  };
}

const text = (m: { data: Buffer }): string => m.data.toString();

async function opened(): Promise<TestClient> {
  return connect((running as StartedServer<{ tag: string }>).url);
}

describe('client machines', () => {
  it('messages become events in order; actions reply through clientOf; getInfo shows the state', async () => {
    running = await startServer(app());
    const client = await opened();
    client.ws.send(JSON.stringify({ type: 'join', name: 'ada' }));
    for (let i = 0; i < 5; i++) client.ws.send(JSON.stringify({ type: 'inc' }));
    expect(JSON.parse(text(await client.nextMessage()))).toEqual({ type: 'joined', name: 'ada' });
    const replies: string[] = [];
    for (let i = 0; i < 5; i++) replies.push(text(await client.nextMessage()));
    expect(replies).toEqual(['n=1', 'n=2', 'n=3', 'n=4', 'n=5']);
    const [id] = running.server.endpoint.getLocalClients();
    expect(running.server.endpoint.getLocalInfo(id as number)).toMatchObject({ machine_state: 'room', messages_rejected: 0 });
  });

  it.each<[UnexpectedPolicy]>([['error'], ['ignore'], ['close']])('unexpected events follow the policy %s, and are counted', async (policy) => {
    running = await startServer(app(policy));
    const client = await opened();
    client.ws.send(JSON.stringify({ type: 'inc' })); // not accepted in the lobby
    client.ws.send('not json');
    client.ws.send(JSON.stringify({ type: 'join', name: 'bo' }));
    if (policy === 'close') {
      expect(await closed(client)).toEqual({ code: 1008, reason: 'Unexpected "inc" in state "lobby"' });
      return;
    }
    const first = JSON.parse(text(await client.nextMessage())) as Record<string, unknown>;
    if (policy === 'error') {
      expect(first).toEqual({ type: 'error', error: 'unexpected', event: 'inc', state: 'lobby' });
      expect(JSON.parse(text(await client.nextMessage()))).toEqual({ type: 'error', error: 'undecodable', event: null, state: 'lobby' });
      expect(JSON.parse(text(await client.nextMessage()))).toEqual({ type: 'joined', name: 'bo' });
    } else {
      expect(first).toEqual({ type: 'joined', name: 'bo' });
    }
    const [id] = running.server.endpoint.getLocalClients();
    expect(running.server.endpoint.getLocalInfo(id as number)?.messages_rejected).toBe(2);
  });

  it('a busy state defers the next message until the machine leaves it', async () => {
    running = await startServer(app());
    const client = await opened();
    client.ws.send(JSON.stringify({ type: 'join', name: 'cy' }));
    client.ws.send(JSON.stringify({ type: 'slow', ms: 150 }));
    // Accepted only in `room`: had it arrived while `working`, it would be refused.
    client.ws.send(JSON.stringify({ type: 'inc' }));
    await client.nextMessage();
    expect(text(await client.nextMessage())).toBe('worked');
    expect(text(await client.nextMessage())).toBe('n=1');
  });

  it('a final state closes the client with its output; the close event comes after, onClose gets the final snapshot', async () => {
    const seen: { code: number; snapshot: AnyMachineSnapshot | undefined }[] = [];
    running = await startServer(app('error', (_id, code, snapshot) => seen.push({ code, snapshot })));
    const client = await opened();
    client.ws.send(JSON.stringify({ type: 'join', name: 'di' }));
    client.ws.send(JSON.stringify({ type: 'quit' }));
    expect(await closed(client)).toEqual({ code: 4000, reason: 'bye' });
    await waitFor(() => seen.length === 1);
    expect(seen[0]?.code).toBe(4000);
    expect(seen[0]?.snapshot?.status).toBe('done');
    // Done already: it gets no close event.
    expect((seen[0]?.snapshot?.context as Ctx).seen).toEqual(['join']);
  });

  it('a peer close: the machine gets one close event, then onClose sees it stopped', async () => {
    const seen: AnyMachineSnapshot[] = [];
    running = await startServer(app('error', (_id, _code, snapshot) => void (snapshot !== undefined && seen.push(snapshot))));
    const client = await opened();
    client.ws.send(JSON.stringify({ type: 'join', name: 'ed' }));
    client.ws.send(JSON.stringify({ type: 'inc' }));
    client.ws.close(4100, 'leaving');
    await waitFor(() => seen.length === 1);
    expect((seen[0]?.context as Ctx).seen).toEqual(['join', 'inc', 'close 4100']);
  });

  it('a throwing action closes the client with 1011, logged; no further events reach the machine; onClose gets its error snapshot', async () => {
    const seen: AnyMachineSnapshot[] = [];
    running = await startServer(app('error', (_id, _code, snapshot) => void (snapshot !== undefined && seen.push(snapshot))));
    const client = await opened();
    client.ws.send(JSON.stringify({ type: 'join', name: 'fa' }));
    client.ws.send(JSON.stringify({ type: 'boom' }));
    client.ws.send(JSON.stringify({ type: 'inc' }));
    expect(await closed(client)).toEqual({ code: 1011, reason: 'Internal server error, aborting' });
    expect(running.logged.some((e) => e.level === 'error' && e.message.startsWith('clientMachine failed for client'))).toBe(true);
    await waitFor(() => seen.length === 1);
    expect(seen[0]?.status).toBe('error');
    expect((seen[0]?.context as Ctx).seen).toEqual(['join']);
  });

  it('an idle machine hibernates and comes back with its state and context', async () => {
    running = await startServer(app());
    const client = await opened();
    client.ws.send(JSON.stringify({ type: 'join', name: 'gu' }));
    client.ws.send(JSON.stringify({ type: 'inc' }));
    await client.nextMessage();
    expect(text(await client.nextMessage())).toBe('n=1');
    await sleep(400); // past the 250 ms hibernation delay
    client.ws.send(JSON.stringify({ type: 'inc' }));
    expect(text(await client.nextMessage())).toBe('n=2');
  });

  it('the inspector sees each client machine as the child of its connection actor', async () => {
    const events: InspectionEvent[] = [];
    running = await startServer(app(), { inspect: (event) => void events.push(event) });
    const client = await opened();
    client.ws.send(JSON.stringify({ type: 'join', name: 'hi' }));
    await client.nextMessage();
    const actors = events.filter((e) => e.type === '@xstate.actor');
    const room = actors.find((e) => (e.actorRef as unknown as { logic: { id?: string } }).logic.id === 'room');
    const parent = (room?.actorRef as unknown as { _parent?: { logic: { id?: string } } } | undefined)?._parent;
    expect(parent?.logic.id).toBe('connection');
  });
});

describe('client machines and custom decoders', () => {
  it('a forged wsactor.close (or xstate.*) event from a custom decoder does not decode: one close event only (M5)', async () => {
    const seen: AnyMachineSnapshot[] = [];
    running = await startServer({
      onHandshake: () => ({ tag: 'guest' }),
      onClose: (_id, _code, _reason, snapshot) => void (snapshot !== undefined && seen.push(snapshot)),
      clientMachine: clientMachine(roomMachine, { decode: async (m) => JSON.parse(await m.text()) as Ev }),
    });
    const client = await opened();
    client.ws.send(JSON.stringify({ type: 'join', name: 'ik' }));
    client.ws.send(JSON.stringify({ type: 'wsactor.close', code: 1000, reason: 'forged' }));
    client.ws.send(JSON.stringify({ type: 'xstate.done.actor.x', output: 1 }));
    await client.nextMessage();
    expect(JSON.parse(text(await client.nextMessage()))).toMatchObject({ type: 'error', error: 'undecodable' });
    expect(JSON.parse(text(await client.nextMessage()))).toMatchObject({ type: 'error', error: 'undecodable' });
    client.ws.close(4200);
    await waitFor(() => seen.length === 1);
    expect((seen[0]?.context as Ctx).seen).toEqual(['join', 'close 4200']);
  });
});
