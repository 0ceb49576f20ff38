/**
 * The chat demo's server side (examples/chat/app.ts) through real sockets: names with invisible
 * or control characters and duplicate names are refused with close code 4001 and a reason a
 * browser can read; the 4 KiB limit counts the text, not its JSON encoding; reconnecting with
 * one's own name is never refused and never shows two entries.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChatApp, MAX_MESSAGE_BYTES, MAX_NAME_LENGTH, NAME_REFUSED, NAME_TAKEN, nameKey, nameProblem } from '../../examples/chat/app.js';
import { startChatServer, type RunningChatServer } from '../../examples/chat/server.js';
import { closed, connect, waitFor, type TestClient } from '../helpers/harness.js';

type Msg = { type: string; [key: string]: unknown };

let server: RunningChatServer;
let app: ChatApp;
const open: TestClient[] = [];

beforeEach(async () => {
  app = new ChatApp({ log: () => undefined });
  server = await startChatServer({ port: 0, host: '127.0.0.1', app });
});

afterEach(async () => {
  for (const client of open.splice(0)) client.ws.terminate();
  await server.stop();
});

async function join(name: string | null): Promise<TestClient> {
  const query = name === null ? '' : `?name=${encodeURIComponent(name)}`;
  const client = await connect(`ws://127.0.0.1:${server.port}/chat${query}`);
  open.push(client);
  return client;
}

const parsed = (client: TestClient): Msg[] => client.messages.map((m) => JSON.parse(m.data.toString('utf8')) as Msg);

async function next(client: TestClient): Promise<Msg> {
  return JSON.parse((await client.nextMessage()).data.toString('utf8')) as Msg;
}

describe('names', () => {
  it.each([
    ['right-to-left override', 'evil\u202Egnp.exe'],
    ['left-to-right isolate', 'a\u2066b'],
    ['zero-width space', 'ali\u200Bce'],
    ['byte order mark', 'bo\uFEFFb'],
    ['soft hyphen', 'bo\u00ADb'],
    ['Hangul filler (invisible letter)', '\u3164'],
    ['bell (C0 control)', 'ding\u0007'],
    ['next line (C1 control)', 'a\u0085b'],
    ['line separator', 'a\u2028b'],
    ['variation selector after a letter', 'alice\uFE0F'],
  ])('refuses a %s with 4001 and the code point, and tells nobody', async (_label, name) => {
    const watcher = await join('watcher');
    await next(watcher); // welcome
    const client = await join(name);
    const { code, reason } = await closed(client);
    expect(code).toBe(NAME_REFUSED);
    expect(reason).toMatch(/^Name must not contain invisible or control characters \(U\+[0-9A-F]{4}\)$/);
    const bad = [...name].find((c) => nameProblem(c) !== null || c === '\uFE0F') ?? '';
    expect(reason).toContain(`U+${(bad.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`);
    expect(client.messages).toEqual([]);
    expect(app.users.size).toBe(1);
    await new Promise((r) => setTimeout(r, 50));
    expect(parsed(watcher).map((m) => m.type)).toEqual(['welcome']);
  });

  it.each([
    ['Hebrew', 'שלום'],
    ['Arabic', 'مرحبا'],
    ['an emoji family (ZWJ sequence)', '👨‍👩‍👧'],
    ['an emoji with a variation selector', '❤️'],
    ['a skin-tone emoji', '👍🏽'],
    ['combining accents', 'Zoe\u0308'],
    [`${MAX_NAME_LENGTH} characters`, 'x'.repeat(MAX_NAME_LENGTH)],
  ])('accepts %s', async (_label, name) => {
    const client = await join(name);
    expect(await next(client)).toMatchObject({ type: 'welcome', name });
  });

  it(`refuses more than ${MAX_NAME_LENGTH} characters`, async () => {
    const { code, reason } = await closed(await join('x'.repeat(MAX_NAME_LENGTH + 1)));
    expect([code, reason]).toEqual([NAME_REFUSED, `Name must be at most ${MAX_NAME_LENGTH} characters`]);
  });

  it('refuses a name someone online holds, ignoring case, width and spacing', async () => {
    await next(await join('Alice'));
    for (const twin of ['alice', 'ALICE', 'Ａｌｉｃｅ', ' alice ']) {
      const { code, reason } = await closed(await join(twin));
      expect([twin, code, reason]).toEqual([twin, NAME_REFUSED, NAME_TAKEN]);
    }
    expect([...app.users.values()].map((u) => u.name)).toEqual(['Alice']);
    expect(nameKey('Straße')).toBe(nameKey('STRASSE'));
  });

  it('refuses a guest-N name typed by hand while that guest is online, and never hands out a typed one', async () => {
    const guest = await join(null);
    expect(await next(guest)).toMatchObject({ type: 'welcome', name: 'guest-1' });
    const { code, reason } = await closed(await join('Guest-1'));
    expect([code, reason]).toEqual([NAME_REFUSED, NAME_TAKEN]);
    await next(await join('guest-2')); // typed by hand: free, so allowed
    const third = await join(null);
    expect(await next(third)).toMatchObject({ type: 'welcome', name: 'guest-3' });
  });

  it('frees a name when its holder leaves', async () => {
    const first = await join('bob');
    await next(first);
    first.ws.close(1000, 'bye');
    await closed(first);
    await waitFor(() => app.users.size === 0);
    expect(await next(await join('BOB'))).toMatchObject({ type: 'welcome', name: 'BOB' });
  });

  it('lets a reconnect take its own name at once: others see "leave" before "join", never two entries', async () => {
    const watcher = await join('watcher');
    await next(watcher);
    for (let round = 0; round < 5; round++) {
      const old = await join('carol');
      await next(old);
      await waitFor(() => parsed(watcher).filter((m) => m.type === 'join').length === 2 * round + 1);
      // Close and immediately reconnect, before the server has finished with the old socket.
      old.ws.close(1000, 'reconnecting');
      const fresh = await join('carol');
      expect(await next(fresh)).toMatchObject({ type: 'welcome', name: 'carol' });
      await waitFor(() => parsed(watcher).filter((m) => m.type === 'leave').length === 2 * round + 1);
      fresh.ws.close();
      await closed(fresh);
      await waitFor(() => app.users.size === 1);
    }
    // The watcher's view of who is online never held two carols.
    const online = new Set<unknown>();
    for (const m of parsed(watcher)) {
      if (m.type === 'join') {
        expect([...online]).not.toContain('carol');
        online.add(m.name);
      }
      if (m.type === 'leave') online.delete(m.name);
    }
  });
});

describe('message size', () => {
  it(`counts the ${MAX_MESSAGE_BYTES}-byte limit on the text, not on its JSON encoding`, async () => {
    const client = await join('ann');
    await next(client);
    const send = (text: string): void => client.ws.send(JSON.stringify({ type: 'chat', text }));

    const quotes = '"'.repeat(MAX_MESSAGE_BYTES); // 8 KiB once JSON-escaped
    send(quotes);
    expect(await next(client)).toMatchObject({ type: 'chat', text: quotes });
    const accents = 'é'.repeat(MAX_MESSAGE_BYTES / 2); // two UTF-8 bytes each
    send(accents);
    expect(await next(client)).toMatchObject({ type: 'chat', text: accents });
    const controls = '\u0001'.repeat(MAX_MESSAGE_BYTES); // six bytes each once escaped
    send(controls);
    expect(await next(client)).toMatchObject({ type: 'chat', text: controls });

    send('"'.repeat(MAX_MESSAGE_BYTES + 1));
    expect(await next(client)).toEqual({ type: 'error', error: `Message too long: ${MAX_MESSAGE_BYTES + 1} bytes (max ${MAX_MESSAGE_BYTES})` });
    send('é'.repeat(MAX_MESSAGE_BYTES / 2 + 1));
    expect(await next(client)).toEqual({ type: 'error', error: `Message too long: ${MAX_MESSAGE_BYTES + 2} bytes (max ${MAX_MESSAGE_BYTES})` });
    // A frame too big to hold a valid message is refused without being parsed.
    client.ws.send(JSON.stringify({ type: 'chat', text: 'x'.repeat(30_000) }));
    expect(await next(client)).toMatchObject({ type: 'error', error: expect.stringMatching(/^Message too large: \d+ bytes/) as unknown });
    expect(client.ws.readyState).toBe(client.ws.OPEN);
  });
});
