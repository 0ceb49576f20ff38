/**
 * The live view page in a real browser: Debian's headless Chromium (`/usr/bin/chromium`,
 * installed by `npm run setup`) through playwright-core. Three `ws` clients connect from node;
 * the page must list them as `open.ready`, then as `closed` with their close codes, render a
 * hostile close reason as text, and do it all under its CSP without errors.
 */
import type { Browser, Page } from 'playwright-core';
import { launchChromium, watchedPage } from './browser.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLiveView, type LiveView, type Websocket } from '../../src/index.js';
import { closed, connect, startServer, type StartedServer, type TestClient } from '../helpers/harness.js';

const SCREENSHOT = '/tmp/live-view.png';

const app: Websocket<null> = {
  onHandshake: () => null,
  onOpen: () => new Promise((r) => setTimeout(r, 3)),
  onData: () => undefined,
  onClose: () => new Promise((r) => setTimeout(r, 1)),
};

describe('live view in headless Chromium', () => {
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
    ({ page, problems } = await watchedPage(browser, { viewport: { width: 1280, height: 800 } }));
  });

  afterAll(async () => {
    await browser?.close();
    await view?.close();
    await started?.server.stop();
  });

  const stateOf = (id: number) => page.locator(`#clients tr[data-client="${id}"] td.state`);
  const closeOf = (id: number) => page.locator(`#closes tr[data-client="${id}"]`);

  it('lists clients as open.ready, then closed with their codes, live', async () => {
    await page.goto(url);
    await expect.poll(() => page.locator('#conn').textContent(), { timeout: 5000 }).toBe('live');
    expect(await page.locator('#supervisor').textContent()).toBe('running');

    const clients: TestClient[] = [];
    for (let i = 0; i < 3; i++) clients.push(await connect(started.url));
    const ids = started.server.endpoint.getLocalClients();
    expect(ids).toHaveLength(3);
    for (const id of ids) await expect.poll(() => stateOf(id).textContent(), { timeout: 5000 }).toBe('open.ready');
    await expect.poll(() => page.locator('.tile[data-state="open.ready"] .n').textContent()).toBe('3');
    const timeline = await page.locator(`#clients tr[data-client="${ids[0]}"] td.timeline`).textContent();
    expect(timeline).toMatch(/handshaking→.*onHandshake [\d.]+ ms→open\.opening→open\.ready.*onOpen [\d.]+ ms/);

    const hostile = '<img src=x onerror="window.__pwned=1">';
    const codes = [1000, 4001, 4002] as const;
    const reasons = ['normal', 'going', hostile];
    clients.forEach((c, i) => c.ws.close(codes[i], reasons[i]));
    await Promise.all(clients.map((c) => closed(c)));

    for (const [i, id] of ids.entries()) {
      await expect.poll(() => stateOf(id).textContent(), { timeout: 5000 }).toBe('closed');
      await expect.poll(() => closeOf(id).locator('td.code').textContent(), { timeout: 5000 }).toBe(String(codes[i]));
      expect(await closeOf(id).locator('td.reason').textContent()).toBe(reasons[i]);
    }
    await expect.poll(() => page.locator('.tile[data-total="closes"] .n').textContent()).toBe('3');
    expect(await page.locator('.tile[data-state="open.ready"] .n').textContent()).toBe('0');
    expect(await page.locator('#closes img').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined();

    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(problems).toEqual([]);
  });

  it('shows the same state after a reload, also without JavaScript (server-rendered, escaped)', async () => {
    await page.reload();
    await expect.poll(() => page.locator('#conn').textContent(), { timeout: 5000 }).toBe('live');
    const order = await page.locator('#closes tbody tr td.code').allTextContents();
    expect([...order].sort()).toEqual(['1000', '4001', '4002']);
    expect(problems).toEqual([]);

    const noJs = await (browser as Browser).newContext({ javaScriptEnabled: false });
    try {
      const plain = await noJs.newPage();
      await plain.goto(url);
      expect(await plain.locator('#conn').textContent()).toMatch(/^snapshot of \d\d:\d\d:\d\d\.\d{3} UTC$/);
      expect(await plain.locator('#noscript').textContent()).toContain('JavaScript is off');
      expect(await plain.locator('#closes tbody tr td.code').allTextContents()).toEqual(order);
      const hostile = plain.locator('#closes tbody tr', { has: plain.locator('td.code', { hasText: '4002' }) }).locator('td.reason');
      expect(await hostile.textContent()).toBe('<img src=x onerror="window.__pwned=1">');
      expect(await plain.locator('#closes img, #clients img').count()).toBe(0);
      expect(await plain.locator('.tile[data-total="closes"] .n').textContent()).toBe('3');
    } finally {
      await noJs.close();
    }
  });
});
