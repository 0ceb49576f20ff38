/**
 * Helpers for the chat demo's browser tests: Debian's headless Chromium (`/usr/bin/chromium`)
 * through playwright-core (which never downloads a browser), the chat server started in-process
 * on port 0 (restartable on the same port, or "crashed" by cutting every socket), one browser
 * context per user (with the probes of page-probes.ts), and the page's problems (console errors,
 * page errors, HTTP errors) collected.
 */
import { mkdirSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join, resolve } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { expect } from 'vitest';
import { ChatApp } from '../../examples/chat/app.js';
import { startChatServer, type RunningChatServer } from '../../examples/chat/server.js';
import { connect, type TestClient } from '../helpers/harness.js';
import { activeId, probe, PROBES_SCRIPT } from './page-probes.js';

export { launchChromium } from '../helpers/chromium.js';
/** Gitignored; screenshots of failed tests (and of the layout test) land here. */
export const SCREENSHOTS = resolve(import.meta.dirname, '../../test-results/chat');

export interface Viewport {
  readonly label: string;
  readonly width: number;
  readonly height: number;
  readonly mobile: boolean;
}

export const DESKTOP: Viewport = { label: 'desktop', width: 1280, height: 800, mobile: false };
export const MOBILE: Viewport = { label: 'mobile-390', width: 390, height: 844, mobile: true };

/** One test's world: a chat server, its users (browser contexts) and bots (node clients). */
export class ChatWorld {
  server!: RunningChatServer;
  app!: ChatApp;
  readonly pages: Page[] = [];
  readonly problems: string[] = [];
  /** Console errors matching these are expected (e.g. failed connections while the server is down). */
  readonly allowed: RegExp[] = [];
  readonly #contexts: BrowserContext[] = [];
  readonly #bots: TestClient[] = [];
  readonly #retired: RunningChatServer[] = [];
  readonly #sockets = new Set<Socket>();
  #port = 0;

  constructor(
    readonly browser: Browser,
    readonly viewport: Viewport,
  ) {}

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}/`;
  }

  /** Starts the chat server: on port 0 the first time, on the same port after a stop or crash. */
  async start(): Promise<void> {
    this.app = new ChatApp({ log: () => undefined });
    this.server = await startChatServer({ port: this.#port, host: '127.0.0.1', app: this.app });
    this.#port = this.server.port;
    this.server.http.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
  }

  /** A graceful stop: every client gets 1001. */
  async stop(): Promise<void> {
    await this.server.stop();
  }

  /** A crash as clients see it: every socket cut without a close frame (1006), nothing listening. */
  async crash(): Promise<void> {
    const crashed = this.server;
    this.#retired.push(crashed);
    await new Promise<void>((done) => {
      crashed.http.close(() => done());
      for (const socket of this.#sockets) socket.destroy();
    });
  }

  /** A user: a fresh browser context on the page, connected as `name` unless it is null. */
  async user(name: string | null = null): Promise<Page> {
    const { width, height, mobile } = this.viewport;
    const context = await this.browser.newContext({ viewport: { width, height }, deviceScaleFactor: 1, isMobile: mobile, hasTouch: mobile });
    this.#contexts.push(context);
    await context.addInitScript(PROBES_SCRIPT);
    const page = await context.newPage();
    const who = `${name ?? 'user'}#${this.pages.length}`;
    this.pages.push(page);
    page.on('console', (m) => {
      if (m.type() === 'error' && !this.allowed.some((re) => re.test(m.text()))) this.problems.push(`${who} console: ${m.text()}`);
    });
    page.on('pageerror', (e) => void this.problems.push(`${who} pageerror: ${e.message}`));
    page.on('response', (r) => void (r.status() >= 400 && this.problems.push(`${who} HTTP ${r.status()}: ${r.url()}`)));
    page.on('requestfailed', (r) => void this.problems.push(`${who} request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
    await page.goto(this.url);
    await expect.poll(() => activeId(page)).toBe('name');
    await probe(page, 'watchFocus');
    if (name !== null) await joinAs(page, name);
    return page;
  }

  /** A node client in the chat as `name`, welcomed. */
  async bot(name: string): Promise<TestClient> {
    const client = await connect(`ws://127.0.0.1:${this.#port}/chat?name=${encodeURIComponent(name)}`);
    this.#bots.push(client);
    await client.nextMessage(); // welcome
    return client;
  }

  async screenshots(prefix: string): Promise<void> {
    mkdirSync(SCREENSHOTS, { recursive: true });
    for (const [i, page] of this.pages.entries()) {
      if (page.isClosed()) continue;
      await page.screenshot({ path: join(SCREENSHOTS, `${prefix}-user${i}.png`) }).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    for (const bot of this.#bots) bot.ws.terminate();
    for (const context of this.#contexts) await context.close().catch(() => undefined);
    for (const server of [...this.#retired, this.server]) await server?.stop().catch(() => undefined);
  }
}

/** Types `name` into the name field, presses Enter and waits to be welcomed. */
export async function joinAs(page: Page, name: string): Promise<void> {
  await page.fill('#name', name);
  await page.press('#name', 'Enter');
  await connectedAs(page, name);
}

export async function connectedAs(page: Page, name: string, timeout = 5000): Promise<void> {
  await expect.poll(() => page.locator('#status').textContent(), { timeout }).toBe(`Connected as ${name}`);
}

export const sendChat = (bot: TestClient, text: string): void => bot.ws.send(JSON.stringify({ type: 'chat', text }));

export const onlineList = (page: Page): Promise<string[]> => page.locator('#users li').allTextContents();
