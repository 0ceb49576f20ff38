/**
 * The chat demo in headless Chromium, as people use it (issue 16, "Chat demo" 1-6): several
 * browser contexts as users, node clients as bots, at one viewport per test file (desktop and
 * 390 px). A failed test leaves a screenshot of every user's page in test-results/chat/.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MAX_MESSAGE_BYTES, MAX_NAME_LENGTH, NAME_TAKEN, nameProblem } from '../../examples/chat/app.js';
import { ChatWorld, connectedAs, launchChromium, onlineList, sendChat, type Viewport } from './browser-harness.js';
import { activeId, bodyFocusSamples, lastLineVisible, logLines, logScroll, probe, wsAttempts, type Box } from './page-probes.js';

const FAILED_CONNECTION = /WebSocket connection to .* failed/;

export function chatSuite(viewport: Viewport): void {
  describe(`chat demo in Chromium at ${viewport.width} px (${viewport.label})`, () => {
    let browser: Browser;
    let world: ChatWorld;

    beforeAll(async () => {
      browser = await launchChromium();
    });
    afterAll(async () => {
      await browser?.close();
    });
    beforeEach(async () => {
      world = new ChatWorld(browser, viewport);
      await world.start();
    });
    afterEach(async ({ task }) => {
      if (task.result?.state === 'fail') {
        await world.screenshots(`${viewport.label}-${task.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}`);
      }
      await world.close();
    });

    const noProblems = (): void => expect(world.problems).toEqual([]);
    const errorsInLog = async (page: Page): Promise<string[]> => (await logLines(page)).filter((l) => l.kind === 'error').map((l) => l.text);

    it('1. keeps the log at the bottom across a reconnect, keeps a scrolled-up position, and always shows your own message', async () => {
      const alice = await world.user('alice');
      let bot = await world.bot('bot');
      for (let i = 1; i <= 40; i++) sendChat(bot, `filler ${i}`);
      await expect.poll(async () => (await logLines(alice)).at(-1)?.text).toBe('botfiller 40');
      expect(await logScroll(alice)).toMatchObject({ scrollable: true });
      expect((await logScroll(alice)).fromBottom).toBeLessThanOrEqual(4);
      const header = async (): Promise<number> => (await alice.locator('header').boundingBox())?.height ?? 0;
      const headerHeight = await header();
      const logHeight = (await logScroll(alice)).height;

      // The server restarts: while the page waits to retry, the long status stays on one line.
      world.allowed.push(FAILED_CONNECTION);
      await world.stop();
      await expect.poll(() => alice.locator('#status').textContent(), { timeout: 5000 }).toMatch(/^The server is restarting/);
      expect(await header()).toBe(headerHeight);
      expect((await logScroll(alice)).height).toBe(logHeight);
      await world.start();
      await connectedAs(alice, 'alice', 10_000);
      expect(await header()).toBe(headerHeight);

      bot = await world.bot('bot');
      sendChat(bot, 'after the restart');
      await expect.poll(async () => (await logLines(alice)).at(-1)?.text).toBe('botafter the restart');
      expect((await logScroll(alice)).fromBottom).toBeLessThanOrEqual(4);
      expect(await lastLineVisible(alice)).toBe(true);

      // The log shrinks (a shorter window): still at the bottom, also for the next message.
      await alice.setViewportSize({ width: viewport.width, height: viewport.height - 120 });
      await expect.poll(async () => (await logScroll(alice)).fromBottom).toBeLessThanOrEqual(4);
      sendChat(bot, 'in a smaller window');
      await expect.poll(() => lastLineVisible(alice)).toBe(true);
      expect((await logScroll(alice)).fromBottom).toBeLessThanOrEqual(4);

      // Scrolled up to read: others' messages leave the position alone...
      await probe(alice, 'scrollLogTo', 40);
      await expect.poll(async () => (await logScroll(alice)).top).toBe(40);
      sendChat(bot, 'while you read');
      await expect.poll(async () => (await logLines(alice)).at(-1)?.text).toBe('botwhile you read');
      expect((await logScroll(alice)).top).toBe(40);
      // ...and so does a shrinking log.
      await alice.setViewportSize({ width: viewport.width, height: viewport.height - 160 });
      await new Promise((r) => setTimeout(r, 100));
      expect((await logScroll(alice)).top).toBe(40);
      // Your own message always scrolls into view.
      await alice.fill('#text', 'my own words');
      await alice.press('#text', 'Enter');
      await expect.poll(async () => (await logLines(alice)).at(-1)?.text).toBe('alicemy own words');
      await expect.poll(() => lastLineVisible(alice)).toBe(true);
      // Back at the bottom, others' messages follow again.
      sendChat(bot, 'and the last one');
      await expect.poll(async () => (await logLines(alice)).at(-1)?.text).toBe('botand the last one');
      await expect.poll(() => lastLineVisible(alice)).toBe(true);
      noProblems();
    });

    it('2. refuses bidi and invisible characters in names (next to the field, and from the server) and isolates user text', async () => {
      const mallory = await world.user();
      for (const name of ['evil\u202Egnp.exe', 'ali\u200Bce', '\u3164', 'a\u2066b']) {
        await mallory.fill('#name', name);
        await mallory.press('#name', 'Enter');
        await expect.poll(() => mallory.locator('#name-error').textContent()).toBe(nameProblem(name));
        expect(await mallory.locator('#name').getAttribute('aria-invalid')).toBe('true');
      }
      expect(await mallory.locator('#status').textContent()).toBe('Disconnected');
      expect(await logLines(mallory)).toEqual([]);
      expect(await activeId(mallory)).toBe('name');

      // The server refuses it too, with a reason the browser can read (a refused handshake has none).
      const refused = await probe(mallory, 'rawConnect', 'evil\u202Egnp.exe');
      expect(refused).toEqual({ code: 4001, reason: 'Name must not contain invisible or control characters (U+202E)' });

      // A right-to-left name and a message with an override stay in their own boxes.
      const alice = await world.user('alice');
      const hebrew = await world.user('שלום');
      await hebrew.fill('#text', '1 2 3');
      await hebrew.press('#text', 'Enter');
      await hebrew.fill('#text', 'abc\u202Edef');
      await hebrew.press('#text', 'Enter');
      await expect.poll(async () => (await logLines(alice)).filter((l) => l.kind === 'chat').length).toBe(2);
      // Isolated, the text stays right of the name; unisolated, "1 2 3" would join the RTL run on its left.
      const layout = await probe(alice, 'chatLayout');
      expect(layout).toEqual([
        { tags: ['BDI', 'BDI'], bidi: ['isolate', 'isolate'], textRightOfName: true },
        { tags: ['BDI', 'BDI'], bidi: ['isolate', 'isolate'], textRightOfName: true },
      ]);
      // Names in notices, the online list and the status are isolated too.
      const isolatedNames = await probe<{ notices: string[]; online: string[]; status: string }>(alice, 'isolatedNames');
      expect(isolatedNames.notices).toContain('שלום');
      expect(isolatedNames.online).toEqual(['alice', 'שלום']);
      expect(isolatedNames.status).toBe('alice');
      noProblems();
    });

    it('3. keeps the focus after Enter in the name field and after Disconnect/Reconnect; the message box comes before them in tab order', async () => {
      const alice = await world.user();
      await alice.fill('#name', 'alice');
      await alice.press('#name', 'Enter');
      await connectedAs(alice, 'alice');
      await expect.poll(() => activeId(alice)).toBe('text');

      await alice.focus('#name');
      const order: string[] = [];
      // Stop at Reconnect: tabbing past the last control would leave the page (focus on <body>).
      for (let i = 0; i < 10 && order.at(-1) !== 'reconnect'; i++) {
        await alice.keyboard.press('Tab');
        const id = await activeId(alice);
        if (id !== null && id !== '' && !order.includes(id)) order.push(id);
      }
      expect(order.filter((id) => ['connect', 'text', 'send', 'disconnect', 'reconnect'].includes(id))).toEqual(['connect', 'text', 'send', 'disconnect', 'reconnect']);

      await alice.focus('#disconnect');
      await alice.keyboard.press('Enter');
      await expect.poll(() => alice.locator('#status').textContent()).toBe('Disconnected');
      expect(await activeId(alice)).toBe('reconnect');
      await alice.keyboard.press('Enter');
      await connectedAs(alice, 'alice');
      await expect.poll(() => activeId(alice)).toBe('text');
      // With the mouse too.
      await alice.click('#disconnect');
      await expect.poll(() => alice.locator('#status').textContent()).toBe('Disconnected');
      expect(await activeId(alice)).toBe('reconnect');
      await alice.click('#reconnect');
      await connectedAs(alice, 'alice');
      await expect.poll(() => activeId(alice)).toBe('text');
      expect(await bodyFocusSamples(alice)).toBe(0);
      noProblems();
    });

    it('4a. Reconnect uses the edited name; reconnecting while connected shows "left" then "joined", never two entries', async () => {
      const bob = await world.user('bob');
      const alice = await world.user('alice');
      await probe(bob, 'watchOnline');
      for (let i = 0; i < 3; i++) {
        await alice.click('#reconnect');
        await connectedAs(alice, 'alice');
        await expect.poll(async () => (await logLines(bob)).filter((l) => l.text === 'alice joined').length).toBe(i + 2);
      }
      const seen = await probe<string[][]>(bob, 'onlineSnapshots');
      expect(seen.length).toBeGreaterThanOrEqual(6);
      for (const snapshot of seen) expect(snapshot.filter((n) => n === 'alice').length).toBeLessThanOrEqual(1);
      const aboutAlice = (await logLines(bob)).filter((l) => l.text.startsWith('alice ')).map((l) => l.text);
      expect(aboutAlice).toEqual([
        'alice joined',
        ...Array.from({ length: 3 }, () => ['alice left (code 1000, "reconnecting")', 'alice joined']).flat(),
      ]);

      // Disconnected, then an edited name: Reconnect takes it.
      await alice.click('#disconnect');
      await expect.poll(() => alice.locator('#status').textContent()).toBe('Disconnected');
      await alice.fill('#name', 'alicia');
      await alice.click('#reconnect');
      await connectedAs(alice, 'alicia');
      // Connected, edited again: Reconnect takes it too.
      await alice.fill('#name', 'ally');
      await alice.click('#reconnect');
      await connectedAs(alice, 'ally');
      await expect.poll(() => onlineList(bob)).toEqual(['bob (you)', 'ally']);
      expect((await logLines(alice)).map((l) => l.text)).toContain('You left (code 1000, "bye")');
      noProblems();
    });

    it('4b. a server restart (1001) reads as such, not "You left", and the page reconnects by itself', async () => {
      const alice = await world.user('alice');
      const bob = await world.user('bob');
      world.allowed.push(FAILED_CONNECTION);
      await world.stop();
      await world.start();
      await connectedAs(alice, 'alice', 10_000);
      await connectedAs(bob, 'bob', 10_000);
      await expect.poll(() => onlineList(alice), { timeout: 5000 }).toEqual(['alice (you)', 'bob']);
      const lines = (await logLines(alice)).map((l) => l.text);
      expect(lines.some((l) => l.startsWith('You left'))).toBe(false);
      expect(lines).toContain('The server is restarting (code 1001, "Server shutting down"). Reconnecting…');
      noProblems();
    });

    it('4c. a crash (1006) reads as a lost connection; retries back off (0.5-1 s, 1-2 s, 2-4 s) until the server is back', async () => {
      const alice = await world.user('alice');
      world.allowed.push(FAILED_CONNECTION);
      const before = (await wsAttempts(alice)).length;
      await world.crash();
      const crashedAt = await probe<number>(alice, 'now');
      await expect.poll(async () => (await logLines(alice)).at(-1)?.text).toBe('Connection lost (code 1006). Reconnecting…');
      // Two failed retries, then the server comes back and the third succeeds.
      await expect.poll(async () => (await wsAttempts(alice)).length, { timeout: 5000 }).toBe(before + 2);
      await world.start();
      await connectedAs(alice, 'alice', 8000);
      const [first, second, third] = (await wsAttempts(alice)).slice(before);
      expect(first! - crashedAt).toBeGreaterThanOrEqual(400);
      expect(second! - first!).toBeGreaterThanOrEqual(950);
      expect(third! - second!).toBeGreaterThanOrEqual(1950);
      expect((await logLines(alice)).some((l) => l.text.startsWith('You left'))).toBe(false);
      noProblems();
    });

    it('5. refuses duplicate names (any case, guest-N too) next to the name field; counts the limit on the text; maxlength is the server limit', async () => {
      const alice = await world.user('Alice');
      const twin = await world.user();
      await twin.fill('#name', 'aLICE');
      await twin.press('#name', 'Enter');
      await expect.poll(() => twin.locator('#name-error').textContent()).toBe(NAME_TAKEN);
      expect(await twin.locator('#status').textContent()).toBe('Disconnected');
      expect(await errorsInLog(twin)).toEqual([]);
      expect(await activeId(twin)).toBe('name');
      // Next to the field: on its row or right under it.
      const field = await twin.locator('#name').boundingBox();
      const message = await twin.locator('#name-error').boundingBox();
      expect(Math.abs(message!.y - field!.y)).toBeLessThan(field!.height + 12);

      const guest = await world.user();
      await guest.press('#name', 'Enter');
      await connectedAs(guest, 'guest-1');
      await twin.fill('#name', 'Guest-1');
      await twin.press('#name', 'Enter');
      await expect.poll(() => twin.locator('#name-error').textContent()).toBe(NAME_TAKEN);
      // Editing the name clears the error.
      await twin.fill('#name', 'twin');
      expect(await twin.locator('#name-error').textContent()).toBe('');

      expect(await alice.locator('#name').getAttribute('maxlength')).toBe(String(MAX_NAME_LENGTH));
      await twin.fill('#name', '');
      await twin.locator('#name').pressSequentially('x'.repeat(MAX_NAME_LENGTH + 8));
      expect(await twin.locator('#name').inputValue()).toHaveLength(MAX_NAME_LENGTH);

      // The counter counts the text's bytes: 4096 quotes fit (8 KiB once JSON-escaped).
      expect(await alice.locator('#counter').textContent()).toBe(`0 / ${MAX_MESSAGE_BYTES} bytes`);
      await alice.fill('#text', 'héllo');
      expect(await alice.locator('#counter').textContent()).toBe(`6 / ${MAX_MESSAGE_BYTES} bytes`);
      const quotes = '"'.repeat(MAX_MESSAGE_BYTES);
      await alice.fill('#text', quotes);
      expect(await alice.locator('#counter').textContent()).toBe(`${MAX_MESSAGE_BYTES} / ${MAX_MESSAGE_BYTES} bytes`);
      await alice.press('#text', 'Enter');
      await expect.poll(async () => (await logLines(guest)).at(-1)?.text).toBe(`Alice${quotes}`);
      await alice.fill('#text', 'é'.repeat(MAX_MESSAGE_BYTES / 2 + 1));
      expect(await alice.locator('#counter').textContent()).toBe(`${MAX_MESSAGE_BYTES + 2} / ${MAX_MESSAGE_BYTES} bytes: too long`);
      expect(await alice.locator('#counter').getAttribute('class')).toBe('over');
      expect(await alice.locator('#text').getAttribute('aria-invalid')).toBe('true');
      expect(await alice.locator('#send').getAttribute('aria-disabled')).toBe('true');
      await alice.press('#text', 'Enter');
      await new Promise((r) => setTimeout(r, 200));
      expect((await logLines(guest)).at(-1)?.text).toBe(`Alice${quotes}`);
      expect(await alice.locator('#text').inputValue()).toHaveLength(MAX_MESSAGE_BYTES / 2 + 1);
      expect(await errorsInLog(alice)).toEqual([]);
      noProblems();
    });

    it('6. polish: natural order with a count and "(you)" first, a short welcome for a latecomer, labels, live status, contrast, favicon, layout', async () => {
      const early = await world.user('mallory');
      for (const name of ['bot10', 'bot2', 'Bot1', 'alice']) await world.bot(name);
      await expect.poll(() => onlineList(early)).toEqual(['mallory (you)', 'alice', 'Bot1', 'bot2', 'bot10']);
      expect(await early.locator('#user-count').textContent()).toBe('5');
      expect(await early.locator('#people h2').textContent()).toBe('Online (5)');

      await Promise.all(Array.from({ length: 196 }, (_, i) => world.bot(`guest${i + 3}`)));
      const late = await world.user('zed');
      await expect.poll(() => late.locator('#user-count').textContent()).toBe('202');
      const welcome = (await logLines(late)).find((l) => l.text.startsWith('You joined'))?.text;
      expect(welcome).toBe('You joined as zed. Also here: alice, Bot1, bot2 and 198 others (see Online).');
      const online = await onlineList(late);
      expect(online.slice(0, 6)).toEqual(['zed (you)', 'alice', 'Bot1', 'bot2', 'bot10', 'guest3']);
      expect(online.indexOf('guest10')).toBe(online.indexOf('guest9') + 1);

      // Favicon: linked, and /favicon.ico answers too (no 404 on any load).
      const icons = await probe(late, 'icons');
      expect(icons).toEqual([200, 'image/svg+xml', 200, 'image/svg+xml']);

      // A label for the message box, a live status.
      expect(await late.getByLabel('Message', { exact: true }).getAttribute('id')).toBe('text');
      expect(await late.getByLabel('Name', { exact: true }).getAttribute('id')).toBe('name');
      expect(await late.locator('#status').getAttribute('role')).toBe('status');
      expect(await late.locator('#status').getAttribute('aria-live')).toBe('polite');

      // Input and outlined-button borders: at least 3:1 against what is around them and inside them.
      for (const id of ['name', 'text', 'disconnect', 'reconnect']) {
        expect([id, (await probe<number>(late, 'borderContrast', id)) >= 3]).toEqual([id, true]);
      }

      // Layout: the online list has room (on a phone: above the log, not 90 px under the compose box).
      const [people, messages, compose, session] = await probe<Box[]>(late, 'boxes', ['#people', '#messages', '#compose-form', '.session']);
      if (viewport.mobile) {
        expect(people!.y + people!.height).toBeLessThanOrEqual(messages!.y);
        expect(people!.height).toBeGreaterThanOrEqual(0.2 * viewport.height);
        expect(messages!.height).toBeGreaterThanOrEqual(200);
        expect(compose!.y).toBeGreaterThanOrEqual(messages!.y + messages!.height);
      } else {
        expect(people!.x).toBeGreaterThanOrEqual(messages!.x + messages!.width);
        expect(people!.height).toBe(messages!.height);
      }
      expect(session!.y + session!.height).toBeLessThanOrEqual(viewport.height);
      expect(await probe<number>(late, 'pageWidth')).toBeLessThanOrEqual(viewport.width);
      await world.screenshots(`${viewport.label}-layout`);
      noProblems();
    });
  });
}
