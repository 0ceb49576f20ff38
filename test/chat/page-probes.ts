/**
 * What the chat tests measure inside the page. The project compiles without the DOM library, so
 * the in-page code is plain JavaScript, installed before the page's own script as
 * `window.__chatProbes`; `probe(page, name, ...args)` calls one and returns its (JSON) result.
 */
import type { Page } from 'playwright-core';

export const PROBES_SCRIPT = String.raw`
(() => {
  // Every WebSocket the page creates, with its time (for the backoff).
  const attempts = [];
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(url, protocols) {
      super(url, protocols);
      attempts.push(performance.now());
    }
  };
  let bodyFocus = 0;
  let online = null;
  const $ = (selector) => document.querySelector(selector);
  const rgb = (color) => (color.match(/[\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => [r, g, b]
    .map((v) => v / 255)
    .map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4))
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const ratio = (a, b) => {
    const [hi, lo] = [luminance(rgb(a)), luminance(rgb(b))].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };
  const backdrop = (el) => {
    for (let e = el.parentElement; e !== null; e = e.parentElement) {
      const bg = getComputedStyle(e).backgroundColor;
      const alpha = rgb(bg)[3];
      if (alpha === undefined || alpha > 0) return bg;
    }
    return 'rgb(255, 255, 255)';
  };
  const box = (el) => { const r = el.getBoundingClientRect(); return { x: r.x, y: r.y, width: r.width, height: r.height }; };

  window.__chatProbes = {
    now: () => performance.now(),
    wsAttempts: () => attempts,
    activeId: () => (document.activeElement ? document.activeElement.id : null),
    // Counts 5 ms samples that found the focus on <body> from now on.
    watchFocus: () => {
      setInterval(() => { if (!document.activeElement || document.activeElement === document.body) bodyFocus += 1; }, 5);
    },
    bodyFocus: () => bodyFocus,
    // Each log line's class and text, without its time stamp.
    logLines: () => [...document.querySelectorAll('#log li')].map((li) => ({
      kind: li.className,
      text: [...li.childNodes].slice(1).map((n) => n.textContent).join(''),
    })),
    logScroll: () => {
      const el = $('#messages');
      return { fromBottom: el.scrollHeight - el.scrollTop - el.clientHeight, top: el.scrollTop, height: el.clientHeight, scrollable: el.scrollHeight > el.clientHeight + 50 };
    },
    scrollLogTo: (top) => { $('#messages').scrollTo(0, top); },
    lastLineVisible: () => {
      const panel = $('#messages').getBoundingClientRect();
      const last = $('#log li:last-child');
      if (!last) return false;
      const r = last.getBoundingClientRect();
      return r.top >= panel.top - 1 && r.bottom <= panel.bottom + 1;
    },
    // How chat lines are built and laid out: their name and text elements, isolated or not.
    chatLayout: () => [...document.querySelectorAll('#log li.chat')].map((li) => {
      const from = li.querySelector('.from');
      const text = li.querySelector('.text');
      return {
        tags: [from.tagName, text.tagName],
        bidi: [getComputedStyle(from).unicodeBidi, getComputedStyle(text).unicodeBidi],
        textRightOfName: text.getBoundingClientRect().left >= from.getBoundingClientRect().right - 1,
      };
    }),
    isolatedNames: () => ({
      notices: [...document.querySelectorAll('#log li.notice bdi')].map((b) => b.textContent),
      online: [...document.querySelectorAll('#users li')].map((li) => (li.querySelector('bdi') || {}).textContent),
      status: ($('#status bdi') || {}).textContent,
    }),
    // Records every rendering of the online list from now on.
    watchOnline: () => {
      online = [];
      const list = $('#users');
      new MutationObserver(() => online.push([...list.children].map((li) => li.textContent))).observe(list, { childList: true });
    },
    onlineSnapshots: () => online,
    // A bare WebSocket from this page: what close code and reason does the browser get?
    rawConnect: (name) => new Promise((done) => {
      const ws = new Native('ws://' + location.host + '/chat?name=' + encodeURIComponent(name));
      ws.onclose = (e) => done({ code: e.code, reason: e.reason });
    }),
    icons: async () => {
      const [a, b] = await Promise.all([fetch($('link[rel="icon"]').href), fetch('/favicon.ico')]);
      return [a.status, a.headers.get('content-type'), b.status, b.headers.get('content-type')];
    },
    // The lower of: border vs what is around the control, border vs the control's own background.
    borderContrast: (id) => {
      const el = document.getElementById(id);
      const style = getComputedStyle(el);
      return Math.min(ratio(style.borderTopColor, backdrop(el)), ratio(style.borderTopColor, style.backgroundColor));
    },
    boxes: (selectors) => selectors.map((s) => box($(s))),
    pageWidth: () => document.documentElement.scrollWidth,
  };
})();
`;

export interface LogLine {
  kind: string;
  text: string;
}

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Calls `window.__chatProbes[name](...args)` in the page. */
export function probe<T>(page: Page, name: string, ...args: unknown[]): Promise<T> {
  return page.evaluate(
    ([fn, params]) => {
      const probes = (globalThis as unknown as { __chatProbes: Record<string, (...a: unknown[]) => unknown> }).__chatProbes;
      const call = probes[fn];
      if (call === undefined) throw new Error(`no probe ${fn}`);
      return call(...params);
    },
    [name, args] as const,
  ) as Promise<T>;
}

export const logLines = (page: Page): Promise<LogLine[]> => probe(page, 'logLines');
export const activeId = (page: Page): Promise<string | null> => probe(page, 'activeId');
/** How many 5 ms samples found the focus on <body> since the page was loaded. */
export const bodyFocusSamples = (page: Page): Promise<number> => probe(page, 'bodyFocus');
/** Times (page clock, ms) at which the page created a WebSocket. */
export const wsAttempts = (page: Page): Promise<number[]> => probe(page, 'wsAttempts');
/** How the message log sits: distance from the bottom, scroll position, visible height. */
export const logScroll = (page: Page): Promise<{ fromBottom: number; top: number; height: number; scrollable: boolean }> => probe(page, 'logScroll');
/** Whether the last log line is fully inside the visible part of the log. */
export const lastLineVisible = (page: Page): Promise<boolean> => probe(page, 'lastLineVisible');
