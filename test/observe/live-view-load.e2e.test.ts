/**
 * The live view stays responsive while 2,000 real `ws` clients connect and close (issue 16,
 * live view point 3). Headless Chromium (Debian's, through playwright-core) watches the page
 * with a PerformanceObserver for long tasks (over 50 ms on its main thread) while the clients,
 * spread over the local addresses 127.0.0.2 to 127.0.0.11, connect in waves and close; the
 * page must never block for 200 ms, block in all for a bounded time, and end with exactly the
 * server's clients (the view keeps 500 of them) and totals. The figures are printed; a failing
 * test leaves a screenshot in /tmp/live-view-load-failure.png.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createLiveView, type LiveView, type LiveViewSnapshot, type Websocket } from '../../src/index.js';
import { startServer, type StartedServer } from '../helpers/harness.js';
import { launchChromium, screenshotOnFailure, watchedPage } from './browser.js';

const CLIENTS = 2000;
const WAVE = 250;
const ADDRESSES = 10; // 127.0.0.2 .. 127.0.0.11
const FAILURE = '/tmp/live-view-load-failure.png';
/*
 * Bounds. The page that redrew every row every 100 ms measured here: long tasks up to 318 ms,
 * 454 to 1,202 ms of them in all, animation frames up to 812 ms. This one: none over 50 ms
 * alone, frames up to ~50 ms (more when other tests share the two cores).
 */
/** No single long task may reach this. */
const MAX_LONG_TASK_MS = 200;
/** All long tasks together, over the whole run, stay under this. */
const MAX_TOTAL_LONG_TASKS_MS = 250;
/** No animation frame (tasks plus style, layout and paint) may take this long. */
const MAX_FRAME_MS = 300;

const app: Websocket<null> = {
  onHandshake: () => null,
  onOpen: () => undefined,
  onClose: () => undefined,
};

interface LongTasks {
  readonly count: number;
  readonly max: number;
  readonly total: number;
  /** Long animation frames (tasks plus rendering): the longest, in ms. */
  readonly maxFrame: number;
  readonly events: Record<string, number>;
  /** The longest gap between two 20 ms timer ticks in the page, in ms. */
  readonly maxTickGap: number;
}

/** Opens one client from `localAddress`; resolves once open. */
function open(url: string, localAddress: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { localAddress });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function close(ws: WebSocket, code: number): Promise<void> {
  return new Promise((resolve) => {
    ws.once('close', () => resolve());
    ws.close(code);
  });
}

describe('live view under 2,000 clients in headless Chromium', () => {
  let started: StartedServer<null>;
  let view: LiveView;
  let url: string;
  let browser: Browser | undefined;
  let page: Page;
  let problems: string[];

  beforeAll(async () => {
    started = await startServer(app, { maxConnections: CLIENTS + 100 });
    view = createLiveView(started.server);
    ({ url } = await view.listen({ port: 0 }));
    browser = await launchChromium();
    ({ page, problems } = await watchedPage(browser, { viewport: { width: 1280, height: 900 } }));
    // Before any script of the page: record every long task and the page's timer lag.
    await page.addInitScript(() => {
      const g = globalThis as unknown as {
        __long: number[];
        __frames: number[];
        __maxGap: number;
        __events: Record<string, number>;
        PerformanceObserver: new (cb: (list: { getEntries(): { duration: number }[] }) => void) => { observe(o: object): void };
        EventSource: { prototype: { addEventListener: (this: unknown, type: string, listener: unknown) => void } };
      };
      g.__long = [];
      g.__frames = [];
      g.__maxGap = 0;
      g.__events = {};
      new g.PerformanceObserver((list) => {
        for (const e of list.getEntries()) g.__long.push(e.duration);
      }).observe({ type: 'longtask', buffered: true });
      // Long animation frames: a frame's scripts plus its style, layout and paint.
      new g.PerformanceObserver((list) => {
        for (const e of list.getEntries()) g.__frames.push(e.duration);
      }).observe({ type: 'long-animation-frame', buffered: true });
      // Counts the event-stream messages the page gets (snapshots and updates).
      const add = g.EventSource.prototype.addEventListener;
      g.EventSource.prototype.addEventListener = function (this: unknown, type: string, listener: unknown) {
        add.call(this, type, () => void (g.__events[type] = (g.__events[type] ?? 0) + 1));
        add.call(this, type, listener);
      };
      let last = performance.now();
      setInterval(() => {
        const now = performance.now();
        g.__maxGap = Math.max(g.__maxGap, now - last);
        last = now;
      }, 20);
    });
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    await view?.close();
    await started?.server.stop();
  });

  const longTasks = (): Promise<LongTasks> =>
    page.evaluate(() => {
      const g = globalThis as unknown as { __long: number[]; __frames: number[]; __maxGap: number; __events: Record<string, number> };
      return { count: g.__long.length, max: Math.max(0, ...g.__long), total: g.__long.reduce((a, b) => a + b, 0), maxFrame: Math.max(0, ...g.__frames), maxTickGap: g.__maxGap, events: g.__events };
    });
  const pageIds = (): Promise<number[]> => page.locator('#clients tbody tr').evaluateAll((rows: { getAttribute(n: string): string | null }[]) => rows.map((r) => Number(r.getAttribute('data-client'))));

  it('never blocks for 200 ms while 2,000 clients connect and close, and ends with the server’s state', async () => {
    await screenshotOnFailure(page, FAILURE, async () => {
      await page.goto(url);
      await expect.poll(() => page.locator('#conn').textContent(), { timeout: 5000 }).toBe('live');
      const before = await longTasks();

      const started_ = performance.now();
      // Waves of 250: open them all, then close them while the next wave connects.
      let closing: Promise<void>[] = [];
      for (let wave = 0; wave < CLIENTS / WAVE; wave++) {
        const opened = await Promise.all(
          Array.from({ length: WAVE }, (_, i) => open(started.url, `127.0.0.${2 + ((wave * WAVE + i) % ADDRESSES)}`)),
        );
        await Promise.all(closing);
        closing = opened.map((ws, i) => close(ws, 4000 + (i % 10)));
      }
      await Promise.all(closing);
      const clientMs = performance.now() - started_;

      await expect.poll(() => page.locator('.tile[data-total="closes"] .n').textContent(), { timeout: 15_000 }).toBe(String(CLIENTS));
      const state = (await (await fetch(`${url}/state`)).json()) as LiveViewSnapshot;
      expect(state.totals).toMatchObject({ opened: CLIENTS, closes: CLIENTS, rejected: 0, aborted: 0 });
      // The page shows exactly the server's 500 clients, newest first.
      await expect.poll(pageIds, { timeout: 10_000 }).toEqual(state.clients.map((c) => c.id).reverse());
      expect(state.clients).toHaveLength(500);
      expect(await page.locator('.tile[data-total="opened"] .n').textContent()).toBe(String(CLIENTS));
      expect(await page.locator('#closes tbody tr').count()).toBe(100);

      const after = await longTasks();
      const figures = { clients: CLIENTS, clientMs: Math.round(clientMs), longTasks: after.count - before.count, maxMs: Math.round(after.max), totalMs: Math.round(after.total - before.total), maxFrameMs: Math.round(after.maxFrame), maxTickGapMs: Math.round(after.maxTickGap), events: after.events };
      console.log(`live view under load: ${JSON.stringify(figures)}`);
      expect(after.max).toBeLessThan(MAX_LONG_TASK_MS);
      expect(after.total - before.total).toBeLessThan(MAX_TOTAL_LONG_TASKS_MS);
      expect(after.maxFrame).toBeLessThan(MAX_FRAME_MS);
      // Every transition reached the page on one stream (it was never cut and resent as a snapshot).
      expect(after.events).toEqual({ snapshot: 1, update: CLIENTS * 7 });
      expect(problems).toEqual([]);
    });
  }, 40_000);
});
