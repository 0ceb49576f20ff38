/**
 * What the live view's Chromium tests share: Debian's headless Chromium (`/usr/bin/chromium`,
 * never a downloaded one) through playwright-core, a page that records its errors, and a
 * screenshot when a test fails (in /tmp).
 */
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';

export { launchChromium } from '../helpers/chromium.js';

/** A page whose console errors, page errors and failed requests (but aborted event streams) land in `problems`. */
export async function watchedPage(browser: Browser, options: BrowserContextOptions = {}): Promise<{ page: Page; problems: string[] }> {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => void (m.type() === 'error' && problems.push(`console: ${m.text()}`)));
  page.on('pageerror', (e) => void problems.push(`pageerror: ${e.message}`));
  // A reload aborts the open event stream (net::ERR_ABORTED); anything else is a problem.
  page.on('requestfailed', (r) => void (r.failure()?.errorText !== 'net::ERR_ABORTED' && problems.push(`request failed: ${r.url()}`)));
  return { page, problems };
}

/** Runs `body`; if it throws, saves a full-page screenshot of `page` to `path` first. */
export async function screenshotOnFailure(page: Page, path: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    await page.screenshot({ path, fullPage: true }).catch(() => undefined);
    throw error;
  }
}

/** What the contrast check reads of a DOM element (the project compiles without the DOM lib). */
interface StyledElement {
  readonly tagName: string;
  readonly id: string;
  readonly className: unknown;
  readonly parentElement: StyledElement | null;
  readonly childNodes: ArrayLike<{ readonly nodeType: number; readonly textContent: string | null }>;
}

/**
 * In the page: for every element under `selector` with its own visible text, its text colour,
 * the background it sits on (the first opaque background up the tree) and their WCAG 2
 * contrast ratio, from computed styles.
 */
export function contrasts(page: Page, selector: string): Promise<{ element: string; text: string; color: string; background: string; ratio: number }[]> {
  return page.evaluate((sel: string) => {
    const g = globalThis as unknown as {
      document: { querySelectorAll(s: string): ArrayLike<StyledElement> };
      getComputedStyle(el: StyledElement): { color: string; backgroundColor: string; visibility: string; display: string };
    };
    const rgba = (c: string): number[] => (c.match(/[\d.]+/g) ?? []).map(Number);
    const lum = ([r, gr, b]: number[]): number => {
      const lin = (v: number): number => {
        const s = v / 255;
        return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * lin(r ?? 0) + 0.7152 * lin(gr ?? 0) + 0.0722 * lin(b ?? 0);
    };
    const backgroundOf = (el: StyledElement | null): string => {
      for (let e = el; e !== null; e = e.parentElement) {
        const bg = g.getComputedStyle(e).backgroundColor;
        const a = rgba(bg)[3];
        if (a === undefined || a === 1) return bg;
      }
      return 'rgb(255, 255, 255)';
    };
    const out: { element: string; text: string; color: string; background: string; ratio: number }[] = [];
    for (const el of Array.from(g.document.querySelectorAll(`${sel}, ${sel} *`))) {
      const own = Array.from(el.childNodes)
        .filter((n) => n.nodeType === 3)
        .map((n) => n.textContent ?? '')
        .join('')
        .trim();
      const style = g.getComputedStyle(el);
      if (own === '' || style.visibility === 'hidden' || style.display === 'none') continue;
      const color = style.color;
      const background = backgroundOf(el);
      const [l1, l2] = [lum(rgba(color)), lum(rgba(background))].sort((a, b) => b - a) as [number, number];
      out.push({ element: `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${typeof el.className === 'string' && el.className ? `.${el.className.split(' ').join('.')}` : ''}`, text: own, color, background, ratio: (l1 + 0.05) / (l2 + 0.05) });
    }
    return out;
  }, selector);
}
