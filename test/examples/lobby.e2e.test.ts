/**
 * The lobby example end to end in a real browser: Debian's headless Chromium
 * (`/usr/bin/chromium`, installed by `npm run setup`) through playwright-core, which never
 * downloads a browser. The server runs in-process on 127.0.0.1, port 0. Two browser contexts
 * are two people: each picks a name (one tries a taken and an invalid one first), both join the
 * same room, chat (with markup that must stay text), play a round of rock-paper-scissors, and
 * one leaves; the test asserts what each page shows and, on the server, each client's machine
 * state. On failure both pages are saved as screenshots in the system temp directory.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../helpers/chromium.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LobbyApp } from '../../examples/lobby/app.js';
import { startLobby, type RunningLobby } from '../../examples/lobby/server.js';
import { until } from './lobby-client.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('lobby example in headless Chromium (two players)', () => {
  let lobby: RunningLobby;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];

  beforeAll(async () => {
    // Short but real waits: the busy states are visible, and the test stays fast.
    lobby = await startLobby({ port: 0, host: '127.0.0.1', app: new LobbyApp({ latency: (job) => sleep(job === 'check-name' ? 40 : 60) }) });
    browser = await launchChromium();
  });

  afterAll(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await lobby?.stop();
  });

  async function person(who: string): Promise<Page> {
    const context = await (browser as Browser).newContext({ viewport: { width: 900, height: 760 } });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(5000);
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(`${who} console ${message.type()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`${who} page error: ${error.message}`));
    await page.goto(lobby.url);
    return page;
  }

  /** Waits until `selector`'s text contains `text` (or equals it, with `exact`). */
  async function sees(page: Page, selector: string, text: string, exact = false): Promise<void> {
    const shown = (): Promise<string> => page.locator(selector).first().textContent().then((t) => (t ?? '').trim());
    if (exact) await expect.poll(shown, { timeout: 5000, message: selector }).toBe(text);
    else await expect.poll(shown, { timeout: 5000, message: selector }).toContain(text);
  }

  /** Which of the page's views (naming, lobby, room, gone) shows. */
  const view = (page: Page): Promise<string | null> => page.locator('body').getAttribute('data-view');
  const shows = async (page: Page, name: string): Promise<void> => {
    await expect.poll(() => view(page), { timeout: 5000, message: 'view' }).toBe(name);
  };

  /** The server-side machine state of each client, sorted. */
  const machineStates = (): (string | null | undefined)[] =>
    lobby.server.endpoint
      .getLocalClients()
      .map((id) => lobby.server.endpoint.getLocalInfo(id)?.machine_state)
      .sort();

  it('two people name themselves, meet in a room, chat, play a round, and one leaves', async () => {
    const alice = await person('alice');
    const bob = await person('bob');
    try {
      // Naming.
      await sees(alice, '#status', 'connected');
      await sees(bob, '#status', 'connected');
      expect(await view(alice)).toBe('naming');
      await until(() => machineStates().join() === 'naming,naming', 'both machines in naming');

      await alice.fill('#name-input', 'alice');
      await alice.click('#name-submit');
      await sees(alice, '#you', 'You are alice', true);
      await shows(alice, 'lobby');
      await sees(alice, '#no-rooms', 'No rooms yet');

      await bob.fill('#name-input', 'ALICE');
      await bob.click('#name-submit');
      await sees(bob, '#error', 'The name "ALICE" is taken; pick another one', true);
      await bob.fill('#name-input', '<img src=x onerror=alert(1)>');
      await bob.click('#name-submit');
      await sees(bob, '#error', 'A name is 1–20 letters');
      expect(await view(bob)).toBe('naming');
      await bob.fill('#name-input', 'bob');
      await bob.click('#name-submit');
      await sees(bob, '#you', 'You are bob', true);
      expect(machineStates()).toEqual(['lobby', 'lobby']);

      // alice opens a room; bob sees it in his lobby and joins it from the list.
      await alice.fill('#room-input', ' Den ');
      await alice.click('#join-form button[type=submit]');
      await sees(alice, '#room-title', 'Room den', true);
      await sees(alice, '#round-status', 'Waiting for an opponent to join');
      await sees(bob, '#rooms li[data-room="den"]', 'alice');
      await bob.click('#rooms li[data-room="den"] button');
      await sees(bob, '#room-title', 'Room den', true);
      for (const page of [alice, bob]) {
        await sees(page, '#scoreboard', 'alice 0 : 0 bob', true);
        await sees(page, '#round-status', 'Round 1 against');
      }
      expect(machineStates()).toEqual(['room.playing', 'room.playing']);

      // Chat: markup from another player stays text.
      await alice.fill('#chat-input', 'hi <b>bob</b>, ready?');
      await alice.press('#chat-input', 'Enter');
      await sees(bob, '#chat-log', 'alicehi <b>bob</b>, ready?');
      expect(await bob.locator('#chat-log b').count()).toBe(0);
      await bob.fill('#chat-input', 'sure');
      await bob.click('#chat-form button');
      await sees(alice, '#chat-log', 'bobsure');

      // A round: alice picks first, bob decides it; bob's machine saves the score (busy) meanwhile.
      await alice.click('#hands button[data-hand="rock"]');
      await sees(alice, '#round-status', 'You chose rock; waiting for bob…', true);
      expect(await alice.locator('#hands button[data-hand="paper"]').isDisabled()).toBe(true);
      await sees(bob, '#round-status', 'alice has chosen. Your turn!', true);
      await bob.click('#hands button[data-hand="scissors"]');
      await sees(alice, '#result', 'alice: rock, bob: scissors: you win!', true);
      await sees(bob, '#result', 'alice: rock, bob: scissors: alice wins', true);
      for (const page of [alice, bob]) await sees(page, '#scoreboard', 'alice 1 : 0 bob', true);
      await sees(bob, '#leaderboard', 'alice: 1 win');

      // bob leaves: his machine reaches its final state and the server closes with its output.
      await bob.click('#leave');
      await shows(bob, 'gone');
      await sees(bob, '#gone-text', 'You left the lobby (4000 left).', true);
      await sees(alice, '#scoreboard', 'alice (alone)', true);
      await sees(alice, '#round-status', 'Waiting for an opponent to join');
      await until(() => machineStates().join() === 'room.playing', 'only alice left, in her room');

      // alice goes back to the lobby: the room is gone, her saved win is on the leaderboard.
      await alice.click('#exit');
      await shows(alice, 'lobby');
      await sees(alice, '#no-rooms', 'No rooms yet');
      await sees(alice, '#leaderboard', 'alice: 1 win', true);
      expect(machineStates()).toEqual(['lobby']);

      // bob comes back as a new client: the name is free again.
      await bob.click('#reconnect');
      await sees(bob, '#status', 'connected');
      await bob.fill('#name-input', 'bob');
      await bob.click('#name-submit');
      await sees(bob, '#you', 'You are bob', true);
      await sees(bob, '#leaderboard', 'alice: 1 win', true);

      expect(problems).toEqual([]);
    } catch (error) {
      for (const [who, page] of [['alice', alice], ['bob', bob]] as const) {
        await page.screenshot({ path: join(tmpdir(), `wsactor-lobby-e2e-${who}.png`), fullPage: true }).catch(() => undefined);
      }
      throw error;
    }
  });
});
