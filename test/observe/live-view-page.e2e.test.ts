/**
 * The live view as people use it (issue 16, live view points 1, 2 and 4), in Debian's headless
 * Chromium through playwright-core, against a real server with real clients:
 * 1. past `maxClients` the open page and a reload (and `/state`) keep the same clients;
 * 2. current counts apart from running totals, the totals equal to `/metrics`, the caps said
 *    on the page, a rejected handshake's and a refused upgrade's status text and reason;
 * 4. without JavaScript the page says so; at 390 px nothing is cut off or scrolls sideways
 *    unannounced; header and heading text has a contrast of at least 4.5:1 (from computed styles).
 * Screenshots: /tmp/live-view-desktop.png and /tmp/live-view-390.png; a failing test leaves
 * /tmp/live-view-page-failure.png.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect as connectTcp } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLiveView, createMetrics, type LiveView, type LiveViewSnapshot, type Websocket, type WsActorMetrics } from '../../src/index.js';
import { closed, connect, HandshakeRejected, startServer, waitFor, type StartedServer, type TestClient } from '../helpers/harness.js';
import { contrasts, launchChromium, screenshotOnFailure, watchedPage } from './browser.js';

const FAILURE = '/tmp/live-view-page-failure.png';
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };

const app: Websocket<null> = {
  onHandshake: async (req, res) => {
    if (req.query.has('deny')) res.reject(403, 'denied');
    if (req.query.has('slow')) await new Promise((r) => setTimeout(r, 300));
    return null;
  },
  onOpen: () => undefined,
  onClose: () => undefined,
};

/** What the page tests read of DOM elements (the project compiles without the DOM lib). */
interface Box {
  getBoundingClientRect(): { left: number; right: number; top: number; width: number };
  readonly scrollWidth: number;
  readonly clientWidth: number;
  closest(selector: string): Box | null;
  getAttribute(name: string): string | null;
}

/** Parses the Prometheus text format into `name{labels}` -> value. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\S+?)(\{.*\})? (\S+)$/.exec(line);
    if (m !== null) out.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return out;
}

/** Sends an upgrade request for `target` on a raw socket and drops it after `ms`: an aborted handshake. */
function abortedUpgrade(port: number, target: string, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp(port, '127.0.0.1', () => {
      socket.write(
        `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
      setTimeout(() => socket.destroy(), ms);
    });
    socket.on('error', reject);
    socket.on('close', () => resolve());
  });
}

describe('live view page in headless Chromium', () => {
  let browser: Browser | undefined;
  let started: StartedServer<null> | null = null;
  let view: LiveView | null = null;
  let metrics: WsActorMetrics | null = null;
  let metricsHttp: HttpServer | null = null;
  let page: Page;
  let problems: string[];

  beforeAll(async () => {
    browser = await launchChromium();
  }, 30_000);
  afterAll(async () => {
    await browser?.close();
  });
  afterEach(async () => {
    await page?.context().close();
    await view?.close();
    metrics?.close();
    await new Promise<void>((r) => (metricsHttp === null ? r() : metricsHttp.close(() => r())));
    await started?.server.stop();
    started = view = metrics = metricsHttp = null;
  });

  /** A server on `/ws` with a live view and metrics, and a desktop page (not loaded yet). */
  async function setup(): Promise<{ url: string; ws: string; port: number; scrape: () => Promise<Map<string, number>>; state: () => Promise<LiveViewSnapshot> }> {
    started = await startServer(app, { path: '/ws' });
    view = createLiveView(started.server);
    const { url } = await view.listen({ port: 0 });
    const m = createMetrics(started.server);
    metrics = m;
    const http = createHttpServer((req, res) => void (m.handle(req, res) || res.writeHead(404).end()));
    metricsHttp = http;
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const metricsUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}/metrics`;
    ({ page, problems } = await watchedPage(browser as Browser, { viewport: DESKTOP }));
    return {
      url,
      ws: started.url,
      port: started.port,
      scrape: async () => parseMetrics(await (await fetch(metricsUrl)).text()),
      state: async () => (await (await fetch(`${url}/state`)).json()) as LiveViewSnapshot,
    };
  }

  const live = async (p: Page = page): Promise<void> => {
    await expect.poll(() => p.locator('#conn').textContent(), { timeout: 5000 }).toBe('live');
  };
  const rowIds = (p: Page = page): Promise<number[]> =>
    p.locator('#clients tbody tr').evaluateAll((rows: Box[]) => rows.map((r) => Number(r.getAttribute('data-client'))));
  const tile = (p: Page, key: string): Promise<string | null> => p.locator(`.tile[data-total="${key}"] .n`).textContent();

  it('1: past maxClients the open page, /state and a reload keep the same clients', async () => {
    const { url, ws, state } = await setup();
    await screenshotOnFailure(page, FAILURE, async () => {
      // 500 clients (the default maxClients), closed newest first: close order is not first-seen order.
      const first: TestClient[] = [];
      for (let i = 0; i < 5; i++) first.push(...(await Promise.all(Array.from({ length: 100 }, () => connect(ws)))));
      for (const c of first.reverse()) {
        c.ws.close(1000);
        await closed(c);
      }
      await page.goto(url);
      await live();

      // 60 more connect/close cycles with the page open; every 10th client stays.
      const kept: TestClient[] = [];
      for (let i = 0; i < 60; i++) {
        const c = await connect(ws);
        if (i % 10 === 0) kept.push(c);
        else {
          c.ws.close(4000);
          await closed(c);
        }
      }
      await waitFor(() => view?.snapshot().totals.closes === 554, 5000, 'every close');
      const expected = (await state()).clients.map((c) => c.id).reverse();
      expect(expected).toHaveLength(500);
      await expect.poll(() => rowIds(), { timeout: 10_000 }).toEqual(expected);
      expect(await page.locator('#client-count').textContent()).toBe('500');

      await page.reload();
      await live();
      await expect.poll(() => rowIds(), { timeout: 10_000 }).toEqual(expected);
      for (const c of kept) c.ws.close();
      expect(problems).toEqual([]);
    });
  }, 40_000);

  it('2: totals apart from current counts, equal to /metrics; caps, statuses and reasons shown', async () => {
    const { url, ws, port, scrape } = await setup();
    await screenshotOnFailure(page, FAILURE, async () => {
      await page.goto(url);
      await live();
      const a = await connect(ws);
      const b = await connect(ws);
      a.ws.close(4000, 'bye');
      await closed(a);
      await expect(connect(`${ws}?deny`)).rejects.toMatchObject({ status: 403 });
      const wrong = ws.replace(/\/ws$/, '/nope');
      await expect(connect(wrong)).rejects.toBeInstanceOf(HandshakeRejected);
      await expect(connect(wrong)).rejects.toMatchObject({ status: 404 });
      await abortedUpgrade(port, '/ws?slow', 50);
      await waitFor(() => view?.snapshot().totals.aborted === 1, 3000, 'the aborted handshake');

      const expected = { opened: '2', closes: '1', rejected: '1', aborted: '1', refused: '2' };
      for (const [key, n] of Object.entries(expected)) await expect.poll(() => tile(page, key), { timeout: 5000 }).toBe(n);
      // Current counts: one client open, nothing else; "closed" is no current count.
      expect(await page.locator('.tile[data-state="open.ready"] .n').textContent()).toBe('1');
      expect(await page.locator('#counts .tile[data-state="closed"]').count()).toBe(0);

      // The page's totals are the metrics' counters.
      const m = await scrape();
      const sum = (name: string): number => [...m].filter(([k]) => k.startsWith(name)).reduce((s, [, v]) => s + v, 0);
      expect({
        opened: String(m.get('wsactor_handshakes_total{outcome="accepted",status="101"}')),
        closes: String(sum('wsactor_closes_total')),
        rejected: String(m.get('wsactor_handshakes_total{outcome="rejected",status="403"}')),
        aborted: String(m.get('wsactor_handshakes_total{outcome="aborted",status=""}')),
        refused: String(m.get('wsactor_upgrades_refused_total{status="404"}')),
      }).toEqual(expected);

      // A rejected handshake: its status and reason phrase, in its row and in the closes.
      const rejected = page.locator('#closes tbody tr', { has: page.locator('.end-rejected') });
      expect(await rejected.locator('td.code').textContent()).toBe('HTTP 403');
      // The app's rejection body is the reason (the status text when it gave none).
      expect(await rejected.locator('td.reason').textContent()).toBe('denied');
      const rejectedId = await rejected.getAttribute('data-client');
      expect(await page.locator(`#clients tr[data-client="${rejectedId}"] td.close`).textContent()).toBe('HTTP 403 Forbidden · denied');
      expect(await page.locator('#closes tbody tr', { has: page.locator('.end-aborted') }).count()).toBe(1);
      expect(await page.locator('#closes tbody tr', { has: page.locator('.end-closed') }).locator('td.reason').textContent()).toBe('bye');
      // The refused upgrades: status text, the server's reason, the path.
      expect(await page.locator('#refusals tbody tr').first().locator('td').allTextContents()).toEqual([expect.stringMatching(/^\d\d:/), 'HTTP 404 Not Found', 'Not Found', '/nope']);
      // The caps, said where they apply.
      expect(await page.locator('#client-note').textContent()).toContain('the last 500 seen');
      expect(await page.locator('section', { has: page.locator('#closes') }).locator('h2').textContent()).toContain('the last 100');
      expect(await page.locator('section', { has: page.locator('#refusals') }).locator('h2').textContent()).toContain('the last 100');
      await page.screenshot({ path: '/tmp/live-view-desktop.png', fullPage: true });

      // The server-rendered page says the same.
      await page.reload();
      for (const [key, n] of Object.entries(expected)) expect(await tile(page, key)).toBe(n);
      expect(await page.locator('#refusals tbody tr td.path').allTextContents()).toEqual(['/nope', '/nope']);
      b.ws.close();
      expect(problems).toEqual([]);
    });
  });

  it('4: says when JavaScript is off, fits 390 px, header and headings contrast at least 4.5:1', async () => {
    const { url, ws } = await setup();
    await screenshotOnFailure(page, FAILURE, async () => {
      const clients = await Promise.all(Array.from({ length: 3 }, () => connect(ws)));
      clients[0]?.ws.close(4001, 'a close reason long enough to need more than one line on a phone screen');
      await expect(connect(`${ws}?deny`)).rejects.toBeInstanceOf(HandshakeRejected);
      await expect(connect(ws.replace(/\/ws$/, `/${'x'.repeat(80)}`))).rejects.toBeInstanceOf(HandshakeRejected);
      await waitFor(() => view?.snapshot().totals.closes === 1, 3000, 'the close');

      // Contrast of every text in the header and the section headings, at both widths.
      for (const viewport of [DESKTOP, PHONE]) {
        await page.setViewportSize(viewport);
        await page.goto(url);
        await live();
        const low = (await contrasts(page, 'header')).concat(await contrasts(page, 'h2')).filter((c) => c.ratio < 4.5);
        expect(low).toEqual([]);
      }

      // 390 px: nothing scrolls sideways but what says so; tiles wrap; the timeline is whole.
      const layout = await page.evaluate(() => {
        const d = (globalThis as unknown as { document: { documentElement: Box; querySelector(s: string): Box; querySelectorAll(s: string): ArrayLike<Box> } }).document;
        const tiles = (id: string) => {
          const box = d.querySelector(id);
          const rows = new Set(Array.from(d.querySelectorAll(`${id} .tile`)).map((t) => Math.round(t.getBoundingClientRect().top)));
          return { overflow: box.scrollWidth - box.clientWidth, rows: rows.size, right: Math.max(...Array.from(d.querySelectorAll(`${id} .tile`)).map((t) => t.getBoundingClientRect().right)) };
        };
        const timelines = Array.from(d.querySelectorAll('#clients td.timeline')).map((td) => {
          const r = td.getBoundingClientRect();
          const scroller = td.closest('.scroll') as Box;
          return { right: r.right, width: r.width, scrollerRight: scroller.getBoundingClientRect().right, scrollerOverflow: scroller.scrollWidth - scroller.clientWidth };
        });
        const figures = Array.from(d.querySelectorAll('.diagrams figure')).map((f) => ({
          overflows: f.scrollWidth > f.clientWidth + 1,
          hinted: (f as unknown as { classList: { contains(c: string): boolean } }).classList.contains('overflows'),
        }));
        return { pageOverflow: d.documentElement.scrollWidth - d.documentElement.clientWidth, now: tiles('#counts'), totals: tiles('#totals'), timelines, figures };
      });
      expect(layout.pageOverflow).toBe(0);
      for (const t of [layout.now, layout.totals]) {
        expect(t.overflow).toBe(0);
        expect(t.rows).toBeGreaterThan(1);
        expect(t.right).toBeLessThanOrEqual(PHONE.width);
      }
      expect(layout.timelines).toHaveLength(4);
      for (const t of layout.timelines) {
        expect(t.scrollerOverflow).toBe(0);
        expect(t.right).toBeLessThanOrEqual(t.scrollerRight);
        expect(t.width).toBeGreaterThan(300);
      }
      for (const f of layout.figures) expect(f.hinted).toBe(f.overflows);
      if (layout.figures.some((f) => f.overflows)) expect(await page.locator('.overflows .hint').first().isVisible()).toBe(true);
      await page.screenshot({ path: '/tmp/live-view-390.png', fullPage: true });

      // Without JavaScript: the page says it is a snapshot and will not update.
      const noJs = await (browser as Browser).newContext({ javaScriptEnabled: false, viewport: PHONE });
      try {
        const plain = await noJs.newPage();
        await plain.goto(url);
        expect(await plain.locator('#noscript').isVisible()).toBe(true);
        expect(await plain.locator('#noscript').textContent()).toMatch(/^JavaScript is off: this is the state at \d\d:\d\d:\d\d\.\d{3} UTC and it will not update/);
        expect(await plain.locator('#conn').textContent()).toMatch(/^snapshot of /);
        expect(await plain.locator('#clients tbody tr').count()).toBe(4);
        expect(await plain.evaluate(() => (globalThis as unknown as { document: { documentElement: Box } }).document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
        await plain.screenshot({ path: '/tmp/live-view-390-nojs.png', fullPage: true });
      } finally {
        await noJs.close();
      }
      for (const c of clients) c.ws.close();
      expect(problems).toEqual([]);
    });
  });
});
