/**
 * Draws a {@link MachineDiagram} as inline SVG, twice over and in step: `renderDiagramSvg` on
 * the server (the page shows the diagrams without JS), and `DIAGRAM_SCRIPT`, the page's code
 * that builds the same SVG from the JSON it receives and keeps the counts live. Styling is by
 * class only (the page's CSP allows no style attributes); state names and labels are escaped
 * here and set as text nodes in the browser.
 */
import { escapeHtml } from './escape.js';
import { clip, PILL_W, type DiagramState, type MachineDiagram } from './machine-diagram.js';

const MAX_NAME = 28;
const PILL_H = 18;

const pillY = (s: DiagramState): number => (s.type === 'compound' || s.type === 'parallel' ? s.box.y + 4 : s.box.y + (s.box.h - PILL_H) / 2);
const nameY = (s: DiagramState): number => (s.type === 'compound' || s.type === 'parallel' ? s.box.y + 17 : s.box.y + s.box.h / 2 + 4);
const nodeClass = (s: DiagramState, parentType: string | undefined, n: number): string =>
  `node ${s.type}${parentType === 'parallel' ? ' region' : ''}${n > 0 ? ' active' : ''}`;
const r1 = (n: number): number => Math.round(n * 10) / 10;

/** The SVG of `diagram` with `counts` (state path → clients), as markup; `name` is `app` or `connection`. */
export function renderDiagramSvg(diagram: MachineDiagram, counts: Record<string, number>, name: 'app' | 'connection'): string {
  const types = new Map(diagram.states.map((s) => [s.path, s.type]));
  const marker = `arrow-${name}`;
  const nodes = diagram.states.map((s) => {
    const { x, y, w, h } = s.box;
    const n = counts[s.path] ?? 0;
    const title = s.tags.length === 0 ? s.path : `${s.path} · tags: ${s.tags.join(', ')}`;
    const inner = s.type === 'final' ? `<rect class="inner" x="${x + 3}" y="${y + 3}" width="${r1(w - 6)}" height="${h - 6}" rx="4"/>` : '';
    return (
      `<g class="${nodeClass(s, s.parent === null ? undefined : types.get(s.parent), n)}" data-state="${escapeHtml(s.path)}"><title>${escapeHtml(title)}</title>` +
      `<rect class="box" x="${x}" y="${y}" width="${w}" height="${h}" rx="6"/>${inner}` +
      `<text class="name" x="${r1(x + 12)}" y="${r1(nameY(s))}">${escapeHtml(clip(s.key, MAX_NAME))}</text>` +
      `<rect class="pill" x="${r1(x + w - PILL_W - 6)}" y="${r1(pillY(s))}" width="${PILL_W}" height="${PILL_H}" rx="9"/>` +
      `<text class="num" x="${r1(x + w - 6 - PILL_W / 2)}" y="${r1(pillY(s) + 13)}" text-anchor="middle">${n}</text></g>`
    );
  });
  const edges = diagram.edges.map((e) => {
    const lines = e.labels.map((l, i) => `<tspan x="${e.lx}" dy="${i === 0 ? 0 : 13}">${escapeHtml(l)}</tspan>`).join('');
    return (
      `<g class="edge" data-source="${escapeHtml(e.source)}" data-target="${escapeHtml(e.target)}"><title>${escapeHtml(e.labels.join(' | '))}</title>` +
      `<path d="${escapeHtml(e.d)}" marker-end="url(#${marker})"/><text class="label" x="${e.lx}" y="${e.ly}">${lines}</text></g>`
    );
  });
  const initials = diagram.initials.map((i) => `<g class="initial"><circle cx="${i.cx}" cy="${i.cy}" r="4"/><path d="${escapeHtml(i.d)}" marker-end="url(#${marker})"/></g>`);
  return (
    `<svg class="diagram" id="diagram-${name}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${diagram.width} ${diagram.height}" width="${diagram.width}" height="${diagram.height}" role="img" aria-label="${name} machine ${escapeHtml(diagram.id)}">` +
    `<defs><marker id="${marker}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path class="head" d="M0 0L10 5L0 10z"/></marker></defs>` +
    `${nodes.join('')}${edges.join('')}${initials.join('')}</svg>`
  );
}

/** Diagram styles (part of the page's nonce'd stylesheet). */
export const DIAGRAM_STYLE = `
.diagrams{display:flex;flex-wrap:wrap;gap:18px 28px;align-items:flex-start}
.diagrams figure{margin:0;max-width:100%;overflow-x:auto}
.diagrams figcaption{color:var(--muted);margin-bottom:6px}.diagrams figcaption code{color:var(--ink)}
svg.diagram{display:block;font:12px ui-monospace,"DejaVu Sans Mono",Menlo,monospace}
.node .box{fill:#fff;stroke:#9aa3b5;stroke-width:1.2}
.node.compound>.box,.node.parallel>.box{fill:#f4f6fa}.node.region>.box{stroke-dasharray:5 3}
.node.compound>.name,.node.parallel>.name{font-weight:600}
.node .inner{fill:none;stroke:#9aa3b5}
.node .name{fill:var(--ink)}.node .pill{fill:#eceff3}.node .num{fill:#6b7385;font-weight:600}
.node.active>.box{stroke:#1e9e55;stroke-width:2}.node.active>.pill{fill:#1e9e55}.node.active>.num{fill:#fff}
.edge path{fill:none;stroke:#5b6478;stroke-width:1.2}
.edge .label{fill:#3d5a99;font-size:11px;paint-order:stroke;stroke:#fff;stroke-width:4px;stroke-linejoin:round}
marker .head{fill:#5b6478}.initial circle{fill:#1d2330}.initial path{fill:none;stroke:#1d2330;stroke-width:1.2}
`;

/**
 * Browser code (inside the page's script): `drawDiagram(diagram, name)` returns the SVG
 * element built from the JSON and a map of its nodes; `setDiagramCounts(nodes, counts)`
 * updates them. Mirrors `renderDiagramSvg`.
 */
export const DIAGRAM_SCRIPT = `
const SVG_NS = 'http://www.w3.org/2000/svg';
const PILL_W = ${PILL_W}, PILL_H = ${PILL_H}, MAX_NAME = ${MAX_NAME};
const r1 = (n) => Math.round(n * 10) / 10;
const clip = (t, max) => t.length <= max ? t : t.slice(0, max - 1) + '…';
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children) el.append(c);
  return el;
}
function drawDiagram(d, name) {
  const marker = 'arrow-' + name;
  const types = new Map(d.states.map((st) => [st.path, st.type]));
  const nodes = new Map();
  const svg = s('svg', { class: 'diagram', id: 'diagram-' + name, viewBox: '0 0 ' + d.width + ' ' + d.height, width: d.width, height: d.height, role: 'img', 'aria-label': name + ' machine ' + d.id },
    s('defs', null, s('marker', { id: marker, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto' }, s('path', { class: 'head', d: 'M0 0L10 5L0 10z' }))));
  for (const st of d.states) {
    const { x, y, w, h } = st.box;
    const boxed = st.type === 'compound' || st.type === 'parallel';
    const py = boxed ? y + 4 : y + (h - PILL_H) / 2;
    const count = s('text', { class: 'num', x: r1(x + w - 6 - PILL_W / 2), y: r1(py + 13), 'text-anchor': 'middle' }, '0');
    const g = s('g', { class: 'node ' + st.type + (types.get(st.parent) === 'parallel' ? ' region' : ''), 'data-state': st.path },
      s('title', null, st.tags.length ? st.path + ' · tags: ' + st.tags.join(', ') : st.path),
      s('rect', { class: 'box', x, y, width: w, height: h, rx: 6 }));
    if (st.type === 'final') g.append(s('rect', { class: 'inner', x: x + 3, y: y + 3, width: r1(w - 6), height: h - 6, rx: 4 }));
    g.append(s('text', { class: 'name', x: r1(x + 12), y: r1(boxed ? y + 17 : y + h / 2 + 4) }, clip(st.key, MAX_NAME)),
      s('rect', { class: 'pill', x: r1(x + w - PILL_W - 6), y: r1(py), width: PILL_W, height: PILL_H, rx: 9 }), count);
    nodes.set(st.path, { g, count });
    svg.append(g);
  }
  for (const e of d.edges) {
    const label = s('text', { class: 'label', x: e.lx, y: e.ly }, ...e.labels.map((l, i) => s('tspan', { x: e.lx, dy: i ? 13 : 0 }, l)));
    svg.append(s('g', { class: 'edge', 'data-source': e.source, 'data-target': e.target }, s('title', null, e.labels.join(' | ')),
      s('path', { d: e.d, 'marker-end': 'url(#' + marker + ')' }), label));
  }
  for (const i of d.initials) svg.append(s('g', { class: 'initial' }, s('circle', { cx: i.cx, cy: i.cy, r: 4 }), s('path', { d: i.d, 'marker-end': 'url(#' + marker + ')' })));
  return { svg, nodes };
}
function setDiagramCounts(nodes, counts) {
  for (const [path, { g, count }] of nodes) {
    const n = (counts && counts[path]) || 0;
    if (count.textContent !== String(n)) count.textContent = String(n);
    g.classList.toggle('active', n > 0);
  }
}
`;
