/**
 * The live view's page: one self-contained HTML document (inline CSS and JS, no external
 * resources). The server renders the current snapshot into it (so it shows something without
 * JS); the script then follows `<base>/events` and re-renders with DOM text nodes only.
 * Everything peer- or app-controlled (close reasons, app state names) is escaped on the server
 * and never parsed as HTML in the browser. The machine diagrams are drawn by diagram-svg.ts.
 */
import { DIAGRAM_SCRIPT, DIAGRAM_STYLE, renderDiagramSvg } from './diagram-svg.js';
import { escapeHtml } from './escape.js';
import type { AppTimelineEntry, ClientView, CloseView, LiveViewSnapshot, TimelineEntry } from './live-view.js';

export { escapeHtml } from './escape.js';

const STATES = ['handshaking', 'handshaking.upgrading', 'open.opening', 'open.ready', 'closing.draining', 'closing.notifying', 'closed'] as const;

// Formatting shared in spirit with the script below (keep the two in step).
const time = (at: number): string => new Date(at).toISOString().slice(11, 23);
const ms = (d: number): string => `${d < 10 ? d.toFixed(2) : d < 1000 ? d.toFixed(1) : d.toFixed(0)} ms`;
const cls = (state: string): string => `st-${state.replace(/[^a-z]+/g, '-')}`;
const badge = (state: string): string => `<span class="badge ${cls(state)}">${escapeHtml(state)}</span>`;
const closeText = (code: number | null, reason: string | null, status: number | null): string =>
  status !== null ? `HTTP ${status}` : code === null ? '' : reason ? `${code} · ${reason}` : String(code);

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
  return `<tr data-client="${c.clientId}"><td>${time(c.at)}</td><td class="id">${c.clientId}</td><td class="code">${c.status !== null ? `HTTP ${c.status}` : c.code ?? ''}</td><td class="reason">${escapeHtml(c.reason ?? '')}</td><td>${escapeHtml(c.outcome ?? '')}</td></tr>`;
}

const empty = (cols: number, text: string): string => `<tr class="empty"><td colspan="${cols}">${text}</td></tr>`;

const STYLE = `
:root{--bg:#f6f7f9;--card:#fff;--ink:#1d2330;--muted:#6b7385;--line:#e3e6ec;font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--ink);background:var(--bg)}
body{margin:0;padding:20px 28px}
header{display:flex;align-items:baseline;gap:18px;margin-bottom:16px}
h1{font-size:20px;margin:0}h1 span{color:var(--muted);font-weight:400}
h2{font-size:14px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);margin:0 0 8px}
h2 small{text-transform:none;letter-spacing:0;font-weight:400}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px 16px;margin-bottom:16px}
.meta{display:flex;gap:10px;align-items:center;color:var(--muted)}
.conn::before{content:"●";margin-right:4px;color:#c0392b}.conn.live::before{color:#27ae60}
.counts{display:grid;grid-template-columns:repeat(7,minmax(max-content,1fr));gap:10px;overflow-x:auto}
.count{border:1px solid var(--line);border-radius:6px;padding:8px 10px;display:flex;flex-direction:column;align-items:flex-start;gap:4px}
.count .n{font-size:24px;font-weight:600;font-variant-numeric:tabular-nums}
table{border-collapse:collapse;width:100%}
th{text-align:left;font-weight:600;color:var(--muted);border-bottom:1px solid var(--line);padding:4px 8px}
td{border-bottom:1px solid var(--line);padding:5px 8px;vertical-align:top}
td.id,td.code{font-variant-numeric:tabular-nums;white-space:nowrap}
td.reason,td.close{max-width:28em;overflow-wrap:anywhere}
tr.empty td{color:var(--muted);font-style:italic}
.scroll{max-height:46vh;overflow:auto}
.badge{display:inline-block;padding:1px 7px;border-radius:10px;font:12px ui-monospace,SFMono-Regular,Menlo,monospace;background:#eceff3;white-space:nowrap}
.st-handshaking,.st-handshaking-upgrading{background:#fff1cc}.st-open-opening{background:#dbeafe}
.st-open-ready,.st-running{background:#d3f5dd}.st-closing-draining,.st-closing-notifying,.st-stopping{background:#ffe2c6}
.st-closed,.st-stopped{background:#e6e8ec;color:#555}.st-failed{background:#fbd5d5}
.timeline{line-height:1.9}.step{white-space:nowrap}.arrow,.more{color:var(--muted);margin:0 4px}
.hook{margin-left:4px;font-size:11px;color:#3d5a99}.hook.failed{color:#c0392b}
.badge.app{background:#efe7fb;color:#4b2a86;border:1px dashed #9b7fd1}
${DIAGRAM_STYLE}`;

/** The script: follows the event stream, keeps the same bounded model, renders with text nodes. */
const SCRIPT = `(() => {
'use strict';
const base = document.body.dataset.base;
const $ = (id) => document.getElementById(id);
const time = (at) => new Date(at).toISOString().slice(11, 23);
const ms = (d) => (d < 10 ? d.toFixed(2) : d < 1000 ? d.toFixed(1) : d.toFixed(0)) + ' ms';
const cls = (s) => 'st-' + String(s).replace(/[^a-z]+/g, '-');
const closeText = (code, reason, status) => status !== null ? 'HTTP ' + status : code === null ? '' : reason ? code + ' · ' + reason : String(code);
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
${DIAGRAM_SCRIPT}
let model = null;
const diagrams = {};
function load(snap) {
  model = { supervisor: snap.supervisor, counts: snap.counts, limits: snap.limits, closes: snap.closes, clients: new Map(), closedIds: new Set(),
    withApp: snap.machines.app !== null, machineCounts: snap.machineCounts };
  for (const c of snap.clients) { model.clients.set(c.id, c); if (c.state === 'closed') model.closedIds.add(c.id); }
  for (const name of ['app', 'connection']) {
    const d = snap.machines[name], box = $('diagram-' + name + '-box');
    if (!d || !box) continue;
    const drawn = drawDiagram(d, name);
    box.replaceChildren(drawn.svg);
    diagrams[name] = drawn.nodes;
  }
}
function apply(u) {
  model.supervisor = u.supervisor; model.counts = u.counts; model.machineCounts = u.machineCounts;
  const e = u.event;
  const { clients, closedIds, limits } = model;
  if (e.kind === 'client-machine') {
    const c = clients.get(e.clientId);
    if (!c) return;
    c.appState = e.to; c.appTransitions++;
    c.appTimeline.push({ from: e.from, to: e.to, at: e.at, seq: u.seq });
    if (c.appTimeline.length > limits.maxTransitions) c.appTimeline.shift();
    return;
  }
  if (e.kind !== 'connection') return;
  let c = clients.get(e.clientId);
  if (!c) {
    c = { id: e.clientId, state: e.to, firstAt: e.at, transitions: 0, timeline: [], appState: null, appTransitions: 0, appTimeline: [], closeCode: null, closeReason: null, outcome: null, status: null };
    clients.set(e.clientId, c);
    if (clients.size > limits.maxClients) {
      const victim = closedIds.size ? closedIds.values().next().value : clients.keys().next().value;
      clients.delete(victim); closedIds.delete(victim);
    }
  }
  c.state = e.to; c.transitions++;
  c.timeline.push({ from: e.from, to: e.to, at: e.at, hook: e.hook, seq: u.seq });
  if (c.timeline.length > limits.maxTransitions) c.timeline.shift();
  if (e.closeCode !== null) c.closeCode = e.closeCode;
  if (e.closeReason !== null) c.closeReason = e.closeReason;
  if (e.to === 'closed') {
    c.outcome = e.outcome; c.status = e.status; closedIds.add(c.id);
    model.closes.push({ clientId: e.clientId, at: e.at, code: e.closeCode, reason: e.closeReason, outcome: e.outcome, status: e.status });
    if (model.closes.length > limits.maxCloses) model.closes.shift();
  }
}
function step(t) {
  const s = h('span', { class: 'step', title: time(t.at) }, badge(t.to));
  if (t.hook) s.append(h('span', { class: t.hook.ok ? 'hook' : 'hook failed' }, t.hook.name + ' ' + ms(t.hook.durationMs)));
  return s;
}
function empty(cols, text) { return h('tr', { class: 'empty' }, h('td', { colspan: cols }, text)); }
function render() {
  timer = null;
  if (!model) return;
  const sup = $('supervisor'); sup.className = 'badge ' + cls(model.supervisor); sup.textContent = model.supervisor;
  for (const el of document.querySelectorAll('.count')) el.querySelector('.n').textContent = String(model.counts[el.dataset.state] ?? 0);
  for (const name of Object.keys(diagrams)) setDiagramCounts(diagrams[name], model.machineCounts[name]);
  const rows = [...model.clients.values()].reverse().map((c) => {
    const tl = h('td', { class: 'timeline' });
    if (c.transitions > c.timeline.length || c.appTransitions > c.appTimeline.length) tl.append(h('span', { class: 'more' }, '…'));
    const all = [...c.timeline.map((t) => [t.seq, step(t)]), ...c.appTimeline.map((t) => [t.seq, h('span', { class: 'step', title: time(t.at) + ' app' }, appBadge(t.to))])];
    all.sort((a, b) => a[0] - b[0]).forEach(([, el], i) => { if (i) tl.append(h('span', { class: 'arrow' }, '→')); tl.append(el); });
    return h('tr', { 'data-client': c.id }, h('td', { class: 'id' }, c.id), h('td', { class: 'state' }, badge(c.state)),
      model.withApp ? h('td', { class: 'app' }, c.appState === null ? null : appBadge(c.appState)) : null,
      h('td', { class: 'close' }, closeText(c.closeCode, c.closeReason, c.status)), tl);
  });
  $('clients').tBodies[0].replaceChildren(...(rows.length ? rows : [empty(model.withApp ? 5 : 4, 'no clients yet')]));
  $('client-note').textContent = '(' + model.clients.size + ' shown, newest first)';
  const closes = [...model.closes].reverse().map((c) => h('tr', { 'data-client': c.clientId }, h('td', null, time(c.at)),
    h('td', { class: 'id' }, c.clientId), h('td', { class: 'code' }, c.status !== null ? 'HTTP ' + c.status : c.code ?? ''),
    h('td', { class: 'reason' }, c.reason ?? ''), h('td', null, c.outcome ?? '')));
  $('closes').tBodies[0].replaceChildren(...(closes.length ? closes : [empty(5, 'no closes yet')]));
}
let timer = null;
const schedule = () => { if (timer === null) timer = setTimeout(render, 100); };
const conn = $('conn');
const es = new EventSource(base + '/events');
es.onopen = () => { conn.textContent = 'live'; conn.className = 'conn live'; };
es.onerror = () => { conn.textContent = 'reconnecting…'; conn.className = 'conn'; };
es.addEventListener('snapshot', (m) => { load(JSON.parse(m.data)); render(); });
es.addEventListener('update', (m) => { if (model) { apply(JSON.parse(m.data)); schedule(); } });
})();`;

/** Renders the page for `snapshot`; `basePath` is where the view is mounted, `nonce` the CSP nonce. */
export function renderLiveViewPage(snapshot: LiveViewSnapshot, basePath: string, nonce: string): string {
  const counts = STATES.map(
    (s) => `<div class="count" data-state="${s}"><span class="n">${snapshot.counts[s]}</span>${badge(s)}</div>`,
  ).join('');
  const { app, connection } = snapshot.machines;
  const withApp = app !== null;
  const clients = snapshot.clients.map((c) => clientRow(c, withApp)).reverse().join('') || empty(withApp ? 5 : 4, 'no clients yet');
  const appFigure =
    app === null ? '' : `<figure><figcaption>app machine <code>${escapeHtml(app.id)}</code></figcaption><div id="diagram-app-box">${renderDiagramSvg(app, snapshot.machineCounts.app ?? {}, 'app')}</div></figure>`;
  const connectionFigure = `<figure><figcaption>connection machine <small>(closed: every close since the view started)</small></figcaption><div id="diagram-connection-box">${renderDiagramSvg(connection, snapshot.machineCounts.connection, 'connection')}</div></figure>`;
  const closes = snapshot.closes.map(closeRow).reverse().join('') || empty(5, 'no closes yet');
  const n = escapeHtml(nonce);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>wsactor live view</title><style nonce="${n}">${STYLE}</style></head>
<body data-base="${escapeHtml(basePath)}">
<header><h1>wsactor <span>live view</span></h1>
<div class="meta">server <span id="supervisor" class="badge ${cls(snapshot.supervisor)}">${escapeHtml(snapshot.supervisor)}</span><span id="conn" class="conn">connecting…</span></div></header>
<section><h2>Connections by state</h2><div id="counts" class="counts">${counts}</div></section>
<section id="machines"><h2>Machines <small>(live number of clients in each state)</small></h2><div class="diagrams">${appFigure}${connectionFigure}</div></section>
<section><h2>Clients <small id="client-note">(${snapshot.clients.length} shown, newest first)</small></h2><div class="scroll">
<table id="clients"><thead><tr><th>id</th><th>state</th>${withApp ? '<th>app state</th>' : ''}<th>close</th><th>timeline (hook durations)</th></tr></thead><tbody>${clients}</tbody></table></div></section>
<section><h2>Recent closes</h2><div class="scroll">
<table id="closes"><thead><tr><th>time (UTC)</th><th>client</th><th>code</th><th>reason</th><th>outcome</th></tr></thead><tbody>${closes}</tbody></table></div></section>
<script nonce="${n}">${SCRIPT}</script>
</body></html>`;
}
