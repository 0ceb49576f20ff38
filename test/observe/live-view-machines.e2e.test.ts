/**
 * The live view's machine diagrams in a real browser (Debian's headless Chromium through
 * playwright-core), against a real server whose app has a per-client machine: the page draws
 * the app machine and the connection machine as SVG from the JSON it receives, and the live
 * number of clients in each state follows real `ws` clients as they move; a client's row shows
 * its app state and its timeline the app steps. No errors, under the page's CSP. A failing
 * test leaves a screenshot in /tmp/live-view-machines-failure.png.
 */
import type { Browser, Page } from 'playwright-core';
import { launchChromium, watchedPage } from './browser.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setup } from 'xstate';
import { clientMachine, createLiveView, type ClientCloseEvent, type ClientMachineInput, type LiveView, type Websocket } from '../../src/index.js';
import { closed, connect, startServer, type StartedServer, type TestClient } from '../helpers/harness.js';

const SCREENSHOT = '/tmp/live-view-machines.png';
const FAILURE = '/tmp/live-view-machines-failure.png';

type Ev = { type: 'login'; name: string } | { type: 'play' } | { type: 'pause' } | { type: 'quit' } | ClientCloseEvent;

/** What `signature` reads of a DOM element (the project compiles without the DOM lib). */
interface DomElement {
  readonly tagName: string;
  readonly attributes: ArrayLike<{ readonly name: string; readonly value: string }>;
  readonly childNodes: ArrayLike<{ readonly nodeType: number; readonly textContent: string | null }>;
  querySelectorAll(selector: string): ArrayLike<DomElement>;
  querySelector(selector: string): { readonly textContent: string | null } | null;
  getAttribute(name: string): string | null;
}

const game = setup({ types: { events: {} as Ev, input: {} as ClientMachineInput } }).createMachine({
  id: 'game',
  initial: 'lobby',
  states: {
    lobby: { on: { login: 'room' } },
    room: {
      initial: 'waiting',
      on: { quit: 'gone' },
      states: { waiting: { on: { play: 'playing' } }, playing: { on: { pause: 'waiting' } } },
    },
    gone: { type: 'final' },
  },
  output: { code: 4000, reason: 'quit' },
});

const app: Websocket<null> = {
  onHandshake: () => null,
  onOpen: () => new Promise((r) => setTimeout(r, 2)),
  clientMachine: clientMachine(game),
};

describe('live view machine diagrams in headless Chromium', () => {
  let started: StartedServer<null>;
  let view: LiveView;
  let url: string;
  let browser: Browser | undefined;
  let page: Page;
  let problems: string[] = [];

  beforeAll(async () => {
    started = await startServer(app);
    view = createLiveView(started.server);
    ({ url } = await view.listen({ port: 0 }));
    browser = await launchChromium();
    ({ page, problems } = await watchedPage(browser, { viewport: { width: 1280, height: 900 } }));
  });

  afterAll(async () => {
    await browser?.close();
    await view?.close();
    await started?.server.stop();
  });

  /** Runs `body`; on failure leaves a screenshot of the page before rethrowing. */
  async function screenshotOnFailure(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (error) {
      await page.screenshot({ path: FAILURE, fullPage: true }).catch(() => undefined);
      throw error;
    }
  }

  const count = (diagram: 'app' | 'connection', state: string): Promise<string | null> =>
    page.locator(`#diagram-${diagram} g.node[data-state="${state}"] > text.num`).textContent();
  const counts = async (diagram: 'app' | 'connection', states: readonly string[]): Promise<Record<string, number>> => {
    const out: Record<string, number> = {};
    for (const s of states) out[s] = Number(await count(diagram, s));
    return out;
  };
  const APP_STATES = ['lobby', 'room', 'room.waiting', 'room.playing', 'gone'] as const;
  const send = (c: TestClient, event: object): void => c.ws.send(JSON.stringify(event));

  it('draws both machines and follows clients as they move between states', async () => {
    await screenshotOnFailure(async () => {
      await page.goto(url);
      await expect.poll(() => page.locator('#conn').textContent(), { timeout: 5000 }).toBe('live');

      // The app machine's states and transitions, drawn from the JSON (SVG made in the page).
      const appNodes = page.locator('#diagram-app g.node');
      expect(await appNodes.evaluateAll((els: DomElement[]) => els.map((el) => el.getAttribute('data-state')))).toEqual(['lobby', 'room', 'room.waiting', 'room.playing', 'gone']);
      expect(await page.locator('#diagram-app g.node[data-state="room"] > text.name').textContent()).toBe('room');
      const edges = await page.locator('#diagram-app g.edge').evaluateAll((els: DomElement[]) => els.map((el) => `${el.getAttribute('data-source')}>${el.getAttribute('data-target')}:${el.querySelector('text')?.textContent}`));
      expect(edges.sort()).toEqual(['lobby>room:login', 'room.playing>room.waiting:pause', 'room.waiting>room.playing:play', 'room>gone:quit']);
      expect(await page.locator('#diagram-connection g.node').count()).toBe(10);
      expect(await page.locator('#diagram-connection g.edge', { hasText: 'conn.handshake.rejected' }).count()).toBe(1);
      expect(await counts('app', APP_STATES)).toEqual({ lobby: 0, room: 0, 'room.waiting': 0, 'room.playing': 0, gone: 0 });

      const clients: TestClient[] = [];
      for (let i = 0; i < 3; i++) clients.push(await connect(started.url));
      const ids = started.server.endpoint.getLocalClients();
      const [a, b, c] = clients as [TestClient, TestClient, TestClient];
      const [idA, idB, idC] = ids as [number, number, number];
      await expect.poll(() => count('app', 'lobby'), { timeout: 5000 }).toBe('3');
      await expect.poll(() => count('connection', 'open.ready')).toBe('3');
      expect(await count('connection', 'open')).toBe('3');
      expect(await page.locator('#diagram-app g.node[data-state="lobby"]').getAttribute('class')).toContain('active');
      await expect.poll(() => page.locator(`#clients tr[data-client="${idA}"] td.app`).textContent()).toBe('lobby');

      send(a, { type: 'login', name: 'ann' });
      send(b, { type: 'login', name: 'bob' });
      send(b, { type: 'play' });
      await expect.poll(() => counts('app', APP_STATES), { timeout: 5000 }).toEqual({ lobby: 1, room: 2, 'room.waiting': 1, 'room.playing': 1, gone: 0 });
      await expect.poll(() => page.locator(`#clients tr[data-client="${idB}"] td.app`).textContent()).toBe('room.playing');
      expect(await page.locator(`#clients tr[data-client="${idC}"] td.app`).textContent()).toBe('lobby');
      expect(await page.locator('#diagram-app g.node[data-state="gone"]').getAttribute('class')).not.toContain('active');
      await page.screenshot({ path: SCREENSHOT, fullPage: true }); // clients spread over the states

      send(b, { type: 'pause' });
      await expect.poll(() => counts('app', APP_STATES)).toEqual({ lobby: 1, room: 2, 'room.waiting': 2, 'room.playing': 0, gone: 0 });

      // A final state closes the client (4000): it leaves the app machine's counts, the connection's show the close.
      send(a, { type: 'quit' });
      expect(await closed(a)).toEqual({ code: 4000, reason: 'quit' });
      await expect.poll(() => counts('app', APP_STATES), { timeout: 5000 }).toEqual({ lobby: 1, room: 1, 'room.waiting': 1, 'room.playing': 0, gone: 0 });
      await expect.poll(() => count('connection', 'closed')).toBe('1');
      expect(await count('connection', 'open.ready')).toBe('2');
      await expect.poll(() => page.locator(`#clients tr[data-client="${idA}"] td.app`).textContent()).toBe('gone');
      const timeline = await page.locator(`#clients tr[data-client="${idA}"] td.timeline`).textContent();
      expect(timeline).toMatch(/open\.ready.*→lobby→room\.waiting→gone→closing\.draining.*→closed/);
      expect(await page.locator(`#clients tr[data-client="${idA}"] td.timeline .badge.app`).allTextContents()).toEqual(['lobby', 'room.waiting', 'gone']);

      // The peer's close: the machine gets its close event and stops; nothing left in the app counts.
      b.ws.close(1000, 'bye');
      c.ws.close(1000, 'bye');
      await Promise.all([closed(b), closed(c)]);
      await expect.poll(() => counts('app', APP_STATES), { timeout: 5000 }).toEqual({ lobby: 0, room: 0, 'room.waiting': 0, 'room.playing': 0, gone: 0 });
      await expect.poll(() => count('connection', 'closed')).toBe('3');
      expect(await count('connection', 'open')).toBe('0');

      expect(problems).toEqual([]);
    });
  });

  /** Every SVG element of the diagrams with its attributes (but xmlns) and own text, in document order. */
  const signature = (root: DomElement): string[] =>
    Array.from(root.querySelectorAll('svg, svg *')).map((el) => {
      const attrs = Array.from(el.attributes).filter((a) => a.name !== 'xmlns').map((a) => `${a.name}=${a.value}`).sort();
      const text = Array.from(el.childNodes).filter((n) => n.nodeType === 3).map((n) => n.textContent).join('');
      return `${el.tagName} ${attrs.join(' ')} ${text}`;
    });

  it('renders the same diagrams and counts on the server, without JavaScript', async () => {
    await screenshotOnFailure(async () => {
      const live = await page.locator('.diagrams').evaluate(signature);
      const noJs = await (browser as Browser).newContext({ javaScriptEnabled: false });
      try {
        const plain = await noJs.newPage();
        await plain.goto(url);
        expect(await plain.locator('#conn').textContent()).toMatch(/^snapshot of /);
        expect(await plain.locator('#diagram-app g.node').count()).toBe(5);
        expect(await plain.locator('#diagram-connection g.node[data-state="closed"] > text.num').textContent()).toBe('3');
        expect(await plain.locator('#diagram-app g.node[data-state="lobby"] > text.num').textContent()).toBe('0');
        expect(await plain.locator('#clients tr td.app').allTextContents()).toEqual(['lobby', 'room.waiting', 'gone']);
        // Server- and browser-drawn SVG agree (same elements, attributes and text).
        expect(await plain.locator('.diagrams').evaluate(signature)).toEqual(live);
      } finally {
        await noJs.close();
      }
      expect(problems).toEqual([]);
    });
  });
});
