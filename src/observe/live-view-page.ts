/**
 * The live view's page: one self-contained HTML document (inline CSS and JS, no external
 * resources). The server renders the current snapshot into it (so it shows something, and
 * says it is a snapshot, without JS); the script then follows `<base>/events` and updates the
 * page with DOM text nodes only, touching only what changed: a client's row when that client
 * moves, a new row on top for a new client, the rows of the clients the server forgot (each
 * update names them: the page never evicts by a rule of its own). Work is cut into slices of
 * a few milliseconds, so thousands of transitions never block the page.
 * Everything peer- or app-controlled (close reasons, paths, app state names) is escaped on the
 * server and never parsed as HTML in the browser. The machine diagrams are drawn by diagram-svg.ts.
 */
import { STATUS_CODES } from 'node:http';
import { DIAGRAM_SCRIPT, DIAGRAM_STYLE, renderDiagramSvg } from './diagram-svg.js';
import { escapeHtml } from './escape.js';
import type { AppTimelineEntry, ClientView, CloseView, LiveViewSnapshot, RefusalView, TimelineEntry } from './live-view.js';
import type { LiveViewTotals } from './totals.js';

export { escapeHtml } from './escape.js';

/** A refused request's path is peer-controlled: the view keeps this many characters of it. */
export const MAX_PATH = 200;

/** `path` clipped to {@link MAX_PATH} characters (the page's script clips the same way). */
export function clipPath(path: string | null): string | null {
  return path === null || path.length <= MAX_PATH ? path : `${path.slice(0, MAX_PATH - 1)}…`;
}

/** The live states, shown as "now" tiles (`closed` is not a state anything is in for long). */
const NOW_STATES = ['handshaking', 'handshaking.upgrading', 'open.opening', 'open.ready', 'closing.draining', 'closing.notifying'] as const;

/** The totals tiles: key, label, what it counts, and the metric it equals. */
const TOTALS: readonly (readonly [keyof LiveViewTotals, string, string, string])[] = [
  ['opened', 'opened', 'handshakes accepted (101)', 'handshakes_total{outcome="accepted"}'],
  ['closes', 'closed after open', 'closes of opened connections', 'the sum of closes_total'],
  ['rejected', 'rejected handshakes', 'answered with an HTTP status', 'handshakes_total{outcome="rejected"}'],
  ['aborted', 'aborted handshakes', 'socket gone while handshaking', 'handshakes_total{outcome="aborted"}'],
  ['refused', 'refused upgrades', 'no connection made: path, origin, limit…', 'upgrades_refused_total'],
];

/** HTTP reason phrases of the statuses a rejection or refusal can have. */
const STATUS_TEXT: Record<string, string> = Object.fromEntries(Object.entries(STATUS_CODES).filter((e): e is [string, string] => Number(e[0]) >= 300 && e[1] !== undefined));

// Formatting shared in spirit with the script below (keep the two in step).
const time = (at: number): string => new Date(at).toISOString().slice(11, 23);
const ms = (d: number): string => `${d < 10 ? d.toFixed(2) : d < 1000 ? d.toFixed(1) : d.toFixed(0)} ms`;
const cls = (state: string): string => `st-${state.replace(/[^a-z]+/g, '-')}`;
const badge = (state: string): string => `<span class="badge ${cls(state)}">${escapeHtml(state)}</span>`;
const statusText = (status: number): string => `HTTP ${status}${STATUS_TEXT[status] === undefined ? '' : ` ${STATUS_TEXT[status]}`}`;
const closeText = (code: number | null, reason: string | null, status: number | null): string =>
  status !== null ? (reason ? `${statusText(status)} · ${reason}` : statusText(status)) : code === null ? '' : reason ? `${code} · ${reason}` : String(code);

const appBadge = (state: string): string => `<span class="badge app">${escapeHtml(state)}</span>`;

function step(entry: TimelineEntry): string {
  const hook = entry.hook === null ? '' : `<span class="hook${entry.hook.ok ? '' : ' failed'}">${escapeHtml(entry.hook.name)} ${ms(entry.hook.durationMs)}</span>`;
  return `<span class="step" title="${time(entry.at)}">${badge(entry.to)}${hook}</span>`;
}

const appStep = (entry: AppTimelineEntry): string => `<span class="step" title="${time(entry.at)} app">${appBadge(entry.to)}</span>`;

/** Connection and app steps of a client, in the order the view saw them. */
function steps(c: ClientView): string[] {
  const all: { seq: number; html: string }[] = [...c.timeline.map((t) => ({ seq: t.seq, html: step(t) })), ...c.appTimeline.map((t) => ({ seq: t.seq, html: appStep(t) }))];
  return all.sort((a, b) => a.seq - b.seq).map((s) => s.html);
}

function clientRow(c: ClientView, withApp: boolean): string {
  const elided = c.transitions > c.timeline.length || c.appTransitions > c.appTimeline.length ? '<span class="more">…</span>' : '';
  const app = withApp ? `<td class="app">${c.appState === null ? '' : appBadge(c.appState)}</td>` : '';
  return `<tr data-client="${c.id}"><td class="id">${c.id}</td><td class="state">${badge(c.state)}</td>${app}<td class="close">${escapeHtml(closeText(c.closeCode, c.closeReason, c.status))}</td><td class="timeline">${elided}${steps(c).join('<span class="arrow">→</span>')}</td></tr>`;
}

function closeRow(c: CloseView): string {
  const code = c.status !== null ? `HTTP ${c.status}` : (c.code ?? '');
  // A rejected handshake: the app's body when there was one, else the status text.
  const reason = c.status !== null ? c.reason || (STATUS_TEXT[c.status] ?? '') : (c.reason ?? '');
  return `<tr data-client="${c.clientId}"><td class="time">${time(c.at)}</td><td class="id">${c.clientId}</td><td class="end"><span class="end-${c.end}">${c.end}</span></td><td class="code">${code}</td><td class="reason">${escapeHtml(reason)}</td></tr>`;
}

function refusalRow(r: RefusalView): string {
  return `<tr><td class="time">${time(r.at)}</td><td class="code">${escapeHtml(statusText(r.status))}</td><td class="reason">${escapeHtml(r.reason)}</td><td class="path">${escapeHtml(r.path ?? '(unparsable)')}</td></tr>`;
}

const none = (id: string, shown: boolean, text: string): string => `<p class="none" id="${id}"${shown ? '' : ' hidden'}>${text}</p>`;

const STYLE = `
:root{--bg:#f6f7f9;--card:#fff;--ink:#1d2330;--muted:#566073;--line:#e3e6ec;font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--ink);background:var(--bg)}
body{margin:0;padding:20px 28px}
header{display:flex;flex-wrap:wrap;align-items:baseline;gap:6px 18px;margin-bottom:16px}
h1{font-size:20px;margin:0}h1 span{color:var(--muted);font-weight:400}
h2{font-size:14px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);margin:0 0 8px}
h2 small{text-transform:none;letter-spacing:0;font-weight:400}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px 16px;margin-bottom:16px;min-width:0}
.meta{display:flex;flex-wrap:wrap;gap:6px 10px;align-items:center;color:var(--muted)}
.conn::before{content:"●";margin-right:4px;color:#c0392b}.conn.live::before{color:#27ae60}
.noscript{flex-basis:100%;margin:6px 0 0;padding:6px 10px;border-radius:6px;background:#fff1cc;color:var(--ink)}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(13em,1fr));gap:10px}
.tile{border:1px solid var(--line);border-radius:6px;padding:8px 10px;display:flex;flex-direction:column;align-items:flex-start;gap:4px;min-width:0}
.tile .n{font-size:24px;font-weight:600;font-variant-numeric:tabular-nums}
.tile .badge{white-space:normal}
.tile .what{font-weight:600}.tile .how{color:var(--muted);font-size:12px}
table{border-collapse:collapse;width:100%}
th{text-align:left;font-weight:600;color:var(--muted);border-bottom:1px solid var(--line);padding:4px 8px}
td{border-bottom:1px solid var(--line);padding:5px 8px;vertical-align:top}
td.id,td.code,td.time{font-variant-numeric:tabular-nums;white-space:nowrap}
td.reason,td.close,td.path{max-width:28em;overflow-wrap:anywhere}
.none{color:var(--muted);font-style:italic;margin:6px 8px}
.end-rejected{color:#a12a1d}.end-aborted{color:#8a4b00}
.scroll{max-height:46vh;overflow:auto;position:relative}
table.rows,table.rows thead,table.rows tbody{display:block}
table.rows tr{display:grid;grid-template-columns:4.5em 12em 15em minmax(0,1fr);border-bottom:1px solid var(--line)}
table.rows.with-app tr{grid-template-columns:4.5em 12em 10em 15em minmax(0,1fr)}
table.rows th,table.rows td{border:0;min-width:0}
table.rows td.close{max-width:none}
table.rows tbody tr{contain:layout style}
table.rows.many tbody tr{content-visibility:auto;contain-intrinsic-size:auto 44px}
.scroll,.diagrams figure{background:linear-gradient(to right,var(--card) 30%,rgba(255,255,255,0)) left/40px 100% no-repeat local,linear-gradient(to left,var(--card) 30%,rgba(255,255,255,0)) right/40px 100% no-repeat local,radial-gradient(farthest-side at 0 50%,rgba(0,0,0,.2),rgba(0,0,0,0)) left/14px 100% no-repeat scroll,radial-gradient(farthest-side at 100% 50%,rgba(0,0,0,.2),rgba(0,0,0,0)) right/14px 100% no-repeat scroll}
.hint{display:none;color:var(--muted);font-size:12px}.overflows>.hint,.overflows>figcaption .hint{display:inline}
.badge{display:inline-block;padding:1px 7px;border-radius:10px;font:12px ui-monospace,SFMono-Regular,Menlo,monospace;background:#eceff3;white-space:nowrap}
.st-handshaking,.st-handshaking-upgrading{background:#fff1cc}.st-open-opening{background:#dbeafe}
.st-open-ready,.st-running{background:#d3f5dd}.st-closing-draining,.st-closing-notifying,.st-stopping{background:#ffe2c6}
.st-closed,.st-stopped{background:#e6e8ec;color:#555}.st-failed{background:#fbd5d5}
.timeline{line-height:1.9}.step{white-space:nowrap}.arrow,.more{color:var(--muted);margin:0 4px}
.hook{margin-left:4px;font-size:11px;color:#3d5a99}.hook.failed{color:#c0392b}
.badge.app{background:#efe7fb;color:#4b2a86;border:1px dashed #9b7fd1}
${DIAGRAM_STYLE}
@media (max-width:640px){
body{padding:12px 10px}section{padding:12px 10px}
.tiles{grid-template-columns:repeat(auto-fill,minmax(9em,1fr));gap:8px}
table.stack,table.stack tbody{display:block}
table.stack thead{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%)}
table.stack tr{display:flex;flex-wrap:wrap;align-items:baseline;gap:2px 10px;padding:6px 4px;border-bottom:1px solid var(--line)}
table.stack td{border:0;padding:0;max-width:none}
table.stack td.timeline,table.stack td.reason,table.stack td.path,table.stack td.close:not(:empty){flex-basis:100%}
}`;

/** The script: follows the event stream, keeps the server's model, updates only what changed. */
const SCRIPT = `(() => {
'use strict';
const base = document.body.dataset.base;
const $ = (id) => document.getElementById(id);
const STATUS = ${JSON.stringify(STATUS_TEXT).replace(/</g, '\\u003c')};
const MAX_PATH = ${MAX_PATH};
const SLICE_MS = 8;
const time = (at) => new Date(at).toISOString().slice(11, 23);
const ms = (d) => (d < 10 ? d.toFixed(2) : d < 1000 ? d.toFixed(1) : d.toFixed(0)) + ' ms';
const cls = (s) => 'st-' + String(s).replace(/[^a-z]+/g, '-');
const statusText = (s) => 'HTTP ' + s + (STATUS[s] ? ' ' + STATUS[s] : '');
const closeText = (c) => c.status !== null ? statusText(c.status) + (c.closeReason ? ' · ' + c.closeReason : '') : c.closeCode === null ? '' : c.closeReason ? c.closeCode + ' · ' + c.closeReason : String(c.closeCode);
const clipPath = (p) => p === null || p.length <= MAX_PATH ? p : p.slice(0, MAX_PATH - 1) + '…';
function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === 'class') el.className = v; else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}
const badge = (s) => h('span', { class: 'badge ' + cls(s) }, s);
const appBadge = (s) => h('span', { class: 'badge app' }, s);
const setText = (el, text) => { if (el.textContent !== text) el.textContent = text; };
${DIAGRAM_SCRIPT}
const conn = $('conn');
conn.textContent = 'connecting…';
const MANY = 100;
const clientTable = $('clients'), clientBody = clientTable.tBodies[0], closeBody = $('closes').tBodies[0], refusalBody = $('refusals').tBodies[0];
const nowTiles = [...document.querySelectorAll('.tile[data-state]')].map((el) => [el.dataset.state, el.querySelector('.n')]);
const totalTiles = [...document.querySelectorAll('.tile[data-total]')].map((el) => [el.dataset.total, el.querySelector('.n')]);
const diagrams = {};
/** The server's model (same clients, same order), and what changed since the last render. */
let model = null;
const rows = new Map();
let added = new Set(), dirty = new Set(), newCloses = 0, newRefusals = 0, fresh = false;

function load(snap) {
  model = { supervisor: snap.supervisor, counts: snap.counts, totals: snap.totals, limits: snap.limits, machineCounts: snap.machineCounts,
    withApp: snap.machines.app !== null, clients: new Map(), closes: snap.closes, refusals: snap.refusals };
  for (const c of snap.clients) model.clients.set(c.id, c);
  for (const name of ['app', 'connection']) {
    const d = snap.machines[name], box = $('diagram-' + name + '-box');
    if (!d || !box) continue;
    const drawn = drawDiagram(d, name);
    box.replaceChildren(drawn.svg);
    diagrams[name] = drawn.nodes;
  }
  rows.clear();
  added = new Set(model.clients.keys()); dirty = new Set(); fresh = true;
  markOverflow();
}
function forget(id) {
  model.clients.delete(id);
  const tr = rows.get(id);
  if (tr) { tr.remove(); rows.delete(id); }
  added.delete(id); dirty.delete(id);
}
const touch = (id) => { if (!added.has(id)) dirty.add(id); };
function apply(u) {
  model.supervisor = u.supervisor; model.counts = u.counts; model.totals = u.totals; model.machineCounts = u.machineCounts;
  for (const id of u.evicted) forget(id);
  const e = u.event;
  const { clients, limits } = model;
  if (e.kind === 'refused') {
    model.refusals.push({ at: e.at, status: e.status, reason: e.reason, path: clipPath(e.path) });
    if (model.refusals.length > limits.maxCloses) model.refusals.shift();
    newRefusals++;
    return;
  }
  if (e.kind === 'client-machine') {
    const c = clients.get(e.clientId);
    if (!c) return;
    c.appState = e.to; c.appTransitions++;
    c.appTimeline.push({ from: e.from, to: e.to, at: e.at, seq: u.seq });
    if (c.appTimeline.length > limits.maxTransitions) c.appTimeline.shift();
    touch(c.id);
    return;
  }
  if (e.kind !== 'connection') return;
  let c = clients.get(e.clientId);
  if (!c) {
    c = { id: e.clientId, state: e.to, firstAt: e.at, transitions: 0, timeline: [], appState: null, appTransitions: 0, appTimeline: [], closeCode: null, closeReason: null, outcome: null, status: null };
    clients.set(e.clientId, c);
    added.add(c.id);
  }
  c.state = e.to; c.transitions++;
  c.timeline.push({ from: e.from, to: e.to, at: e.at, hook: e.hook, seq: u.seq });
  if (c.timeline.length > limits.maxTransitions) c.timeline.shift();
  if (e.closeCode !== null) c.closeCode = e.closeCode;
  if (e.closeReason !== null) c.closeReason = e.closeReason;
  if (e.to === 'closed') {
    c.outcome = e.outcome; c.status = e.status;
    model.closes.push({ clientId: e.clientId, at: e.at, code: e.closeCode, reason: e.closeReason, outcome: e.outcome, status: e.status, end: u.end });
    if (model.closes.length > limits.maxCloses) model.closes.shift();
    newCloses++;
  }
  touch(c.id);
}
function step(t) {
  const s = h('span', { class: 'step', title: time(t.at) }, badge(t.to));
  if (t.hook) s.append(h('span', { class: t.hook.ok ? 'hook' : 'hook failed' }, t.hook.name + ' ' + ms(t.hook.durationMs)));
  return s;
}
function fillRow(tr, c) {
  const tl = h('td', { class: 'timeline' });
  if (c.transitions > c.timeline.length || c.appTransitions > c.appTimeline.length) tl.append(h('span', { class: 'more' }, '…'));
  const all = c.timeline.map((t) => [t.seq, step(t)]);
  for (const t of c.appTimeline) all.push([t.seq, h('span', { class: 'step', title: time(t.at) + ' app' }, appBadge(t.to))]);
  if (c.appTimeline.length) all.sort((a, b) => a[0] - b[0]);
  all.forEach(([, el], i) => { if (i) tl.append(h('span', { class: 'arrow' }, '→')); tl.append(el); });
  const cells = [h('td', { class: 'id' }, c.id), h('td', { class: 'state' }, badge(c.state))];
  if (model.withApp) cells.push(h('td', { class: 'app' }, c.appState === null ? null : appBadge(c.appState)));
  cells.push(h('td', { class: 'close' }, closeText(c)), tl);
  tr.replaceChildren(...cells);
}
function closeRow(c) {
  return h('tr', { 'data-client': c.clientId }, h('td', { class: 'time' }, time(c.at)), h('td', { class: 'id' }, c.clientId),
    h('td', { class: 'end' }, h('span', { class: 'end-' + c.end }, c.end)),
    h('td', { class: 'code' }, c.status !== null ? 'HTTP ' + c.status : c.code ?? ''),
    h('td', { class: 'reason' }, c.status !== null ? c.reason || (STATUS[c.status] ?? '') : c.reason ?? ''));
}
function refusalRow(r) {
  return h('tr', null, h('td', { class: 'time' }, time(r.at)), h('td', { class: 'code' }, statusText(r.status)),
    h('td', { class: 'reason' }, r.reason), h('td', { class: 'path' }, r.path ?? '(unparsable)'));
}
/** Puts the newest \`fresh\` entries of \`list\` on top of \`body\` and trims it to the list's length (all of it when more are new). */
function prependNewest(body, list, fresh, row) {
  if (fresh >= list.length) { body.replaceChildren(...list.map(row).reverse()); return; }
  for (let i = list.length - fresh; i < list.length; i++) body.prepend(row(list[i]));
  while (body.rows.length > list.length) body.lastElementChild.remove();
}
let timer = null;
const schedule = (delay) => { if (timer === null) timer = setTimeout(render, delay); };
function render() {
  timer = null;
  if (!model) return;
  const deadline = performance.now() + SLICE_MS;
  if (fresh) {
    fresh = false;
    clientBody.replaceChildren();
    newCloses = newRefusals = Infinity;
  }
  const sup = $('supervisor'); sup.className = 'badge ' + cls(model.supervisor); setText(sup, model.supervisor);
  for (const [state, n] of nowTiles) setText(n, String(model.counts[state] ?? 0));
  for (const [key, n] of totalTiles) setText(n, String(model.totals[key] ?? 0));
  for (const name of Object.keys(diagrams)) setDiagramCounts(diagrams[name], model.machineCounts[name]);
  if (newCloses) { prependNewest(closeBody, model.closes, newCloses, closeRow); newCloses = 0; $('closes-none').hidden = model.closes.length > 0; }
  if (newRefusals) { prependNewest(refusalBody, model.refusals, newRefusals, refusalRow); newRefusals = 0; $('refusals-none').hidden = model.refusals.length > 0; }
  let n = 0;
  for (const id of added) {
    if ((++n & 7) === 0 && performance.now() > deadline) break;
    added.delete(id);
    const c = model.clients.get(id);
    if (!c) continue;
    const tr = h('tr', { 'data-client': id });
    fillRow(tr, c);
    rows.set(id, tr);
    clientBody.prepend(tr);
  }
  for (const id of dirty) {
    if ((++n & 7) === 0 && performance.now() > deadline) break;
    dirty.delete(id);
    const tr = rows.get(id), c = model.clients.get(id);
    if (tr && c) fillRow(tr, c);
  }
  $('clients-none').hidden = model.clients.size > 0;
  // Many rows: those out of sight skip style, layout and paint until scrolled to.
  clientTable.classList.toggle('many', model.clients.size > MANY);
  setText($('client-count'), String(model.clients.size));
  if (added.size || dirty.size) schedule(16);
}
/** Shows the "scroll sideways" hint on the diagrams that do not fit. */
function markOverflow() {
  for (const el of document.querySelectorAll('.diagrams figure')) el.classList.toggle('overflows', el.scrollWidth > el.clientWidth + 1);
}
addEventListener('resize', markOverflow);
const es = new EventSource(base + '/events');
es.onopen = () => { conn.textContent = 'live'; conn.className = 'conn live'; };
es.onerror = () => { conn.textContent = 'reconnecting…'; conn.className = 'conn'; };
es.addEventListener('snapshot', (m) => { load(JSON.parse(m.data)); render(); });
es.addEventListener('update', (m) => { if (model) { apply(JSON.parse(m.data)); schedule(100); } });
})();`;

/**
 * Renders the page for `snapshot`; `basePath` is where the view is mounted, `nonce` the CSP
 * nonce, `renderedAt` the snapshot's time (shown while the page is not live, e.g. without JS).
 */
export function renderLiveViewPage(snapshot: LiveViewSnapshot, basePath: string, nonce: string, renderedAt = Date.now()): string {
  const { limits } = snapshot;
  // A narrow tile breaks a state's name after its dot.
  const now = NOW_STATES.map((s) => `<div class="tile" data-state="${s}"><span class="n">${snapshot.counts[s]}</span><span class="badge ${cls(s)}">${s.replace('.', '.<wbr>')}</span></div>`).join('');
  const totals = TOTALS.map(
    ([key, label, how, metric]) =>
      `<div class="tile" data-total="${key}" title="= ${escapeHtml(metric)} in /metrics"><span class="n">${snapshot.totals[key]}</span><span class="what">${label}</span><span class="how">${escapeHtml(how)}</span></div>`,
  ).join('');
  const { app, connection } = snapshot.machines;
  const withApp = app !== null;
  const clients = snapshot.clients.map((c) => clientRow(c, withApp)).reverse().join('');
  const hint = '<span class="hint"> · scroll sideways →</span>';
  const appFigure =
    app === null ? '' : `<figure><figcaption>app machine <code>${escapeHtml(app.id)}</code>${hint}</figcaption><div id="diagram-app-box">${renderDiagramSvg(app, snapshot.machineCounts.app ?? {}, 'app')}</div></figure>`;
  const connectionFigure = `<figure><figcaption>connection machine <small>(closed: connections ended since the view started)</small>${hint}</figcaption><div id="diagram-connection-box">${renderDiagramSvg(connection, snapshot.machineCounts.connection, 'connection')}</div></figure>`;
  const closes = snapshot.closes.map(closeRow).reverse().join('');
  const refusals = snapshot.refusals.map(refusalRow).reverse().join('');
  const n = escapeHtml(nonce);
  const base = escapeHtml(basePath);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>wsactor live view</title><style nonce="${n}">${STYLE}</style></head>
<body data-base="${base}">
<header><h1>wsactor <span>live view</span></h1>
<div class="meta">server <span id="supervisor" class="badge ${cls(snapshot.supervisor)}">${escapeHtml(snapshot.supervisor)}</span><span id="conn" class="conn">snapshot of ${time(renderedAt)} UTC</span></div>
<noscript><p class="noscript" id="noscript">JavaScript is off: this is the state at ${time(renderedAt)} UTC and it will not update. Reload for the current state (JSON: <a href="${base}/state">${base}/state</a>).</p></noscript></header>
<section><h2>Connections now <small>(current number in each state)</small></h2><div id="counts" class="tiles">${now}</div></section>
<section><h2>Totals since the view started <small>(running totals, as the <code>/metrics</code> counters)</small></h2><div id="totals" class="tiles">${totals}</div></section>
<section id="machines"><h2>Machines <small>(live number of clients in each state)</small></h2><div class="diagrams">${appFigure}${connectionFigure}</div></section>
<section><h2>Clients <small id="client-note">(<span id="client-count">${snapshot.clients.length}</span> kept, newest first: the last ${limits.maxClients} seen, the longest closed forgotten first; the last ${limits.maxTransitions} steps each)</small></h2><div class="scroll">
<table id="clients" class="stack rows${withApp ? ' with-app' : ''}"><thead><tr><th>id</th><th>state</th>${withApp ? '<th>app state</th>' : ''}<th>close</th><th>timeline (hook durations)</th></tr></thead><tbody>${clients}</tbody></table>${none('clients-none', snapshot.clients.length === 0, 'no clients yet')}</div></section>
<section><h2>Recent closes <small>(the last ${limits.maxCloses}, newest first)</small></h2><div class="scroll">
<table id="closes" class="stack"><thead><tr><th>time (UTC)</th><th>client</th><th>end</th><th>code / status</th><th>reason</th></tr></thead><tbody>${closes}</tbody></table>${none('closes-none', snapshot.closes.length === 0, 'no closes yet')}</div></section>
<section><h2>Refused upgrades <small>(before a connection existed; the last ${limits.maxCloses}, newest first)</small></h2><div class="scroll">
<table id="refusals" class="stack"><thead><tr><th>time (UTC)</th><th>status</th><th>reason</th><th>path</th></tr></thead><tbody>${refusals}</tbody></table>${none('refusals-none', snapshot.refusals.length === 0, 'no refused upgrades yet')}</div></section>
<script nonce="${n}">${SCRIPT}</script>
</body></html>`;
}
