/** The soak chart in plain SVG: memory, connections and throughput over time, faults marked. */

export interface Series {
  label: string;
  color: string;
  dashed?: boolean;
  points: [number, number][];
}
export interface Panel {
  title: string;
  unit: string;
  series: Series[];
}
export interface Fault {
  t: number;
  label: string;
}

const W = 960;
const PANEL_H = 190;
const LEFT = 70;
const RIGHT = 190;
const TOP = 46;
const GAP = 42;

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

const fmt = (v: number): string => (v >= 1000 ? `${Math.round(v / 100) / 10}k` : String(Math.round(v * 10) / 10));

export function drawChart(title: string, subtitle: string, tMax: number, panels: Panel[], faults: Fault[]): string {
  const plotW = W - LEFT - RIGHT;
  const height = TOP + panels.length * (PANEL_H + GAP) + 20;
  const x = (t: number): number => LEFT + (t / Math.max(tMax, 1)) * plotW;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="${W}" height="${height}" fill="#fff"/>`);
  out.push(`<text x="${LEFT}" y="18" font-size="15" font-weight="bold">${esc(title)}</text>`);
  out.push(`<text x="${LEFT}" y="34" fill="#555">${esc(subtitle)}</text>`);
  panels.forEach((panel, i) => {
    const y0 = TOP + i * (PANEL_H + GAP) + 14;
    const yMax = niceMax(Math.max(0, ...panel.series.flatMap((s) => s.points.map((p) => p[1]))) * 1.05);
    const y = (v: number): number => y0 + PANEL_H - (v / yMax) * PANEL_H;
    out.push(`<text x="${LEFT}" y="${y0 - 5}" font-weight="bold">${esc(panel.title)} (${esc(panel.unit)})</text>`);
    for (let k = 0; k <= 4; k++) {
      const v = (yMax * k) / 4;
      out.push(`<line x1="${LEFT}" x2="${LEFT + plotW}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e4e4e4"/>`);
      out.push(`<text x="${LEFT - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" fill="#444">${fmt(v)}</text>`);
    }
    const step = tMax > 600 ? 120 : tMax > 120 ? 60 : 10;
    for (let t = 0; t <= tMax; t += step) {
      out.push(`<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${y0}" y2="${y0 + PANEL_H}" stroke="#f0f0f0"/>`);
      out.push(`<text x="${x(t).toFixed(1)}" y="${y0 + PANEL_H + 13}" text-anchor="middle" fill="#444">${t >= 60 && step >= 60 ? `${t / 60} min` : `${t} s`}</text>`);
    }
    out.push(`<rect x="${LEFT}" y="${y0}" width="${plotW}" height="${PANEL_H}" fill="none" stroke="#999"/>`);
    for (const f of faults) {
      out.push(`<line x1="${x(f.t).toFixed(1)}" x2="${x(f.t).toFixed(1)}" y1="${y0}" y2="${y0 + PANEL_H}" stroke="#d62728" stroke-dasharray="4 3"/>`);
      if (i === 0) out.push(`<text x="${(x(f.t) + 3).toFixed(1)}" y="${y0 + 11}" fill="#d62728" font-size="10">${esc(f.label)}</text>`);
    }
    panel.series.forEach((s, j) => {
      if (s.points.length > 0) {
        const pts = s.points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
        out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="1.6"${s.dashed === true ? ' stroke-dasharray="5 3"' : ''} points="${pts}"/>`);
      }
      const ly = y0 + 12 + j * 15;
      out.push(`<line x1="${LEFT + plotW + 10}" x2="${LEFT + plotW + 30}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${s.dashed === true ? ' stroke-dasharray="5 3"' : ''}/>`);
      out.push(`<text x="${LEFT + plotW + 35}" y="${ly}">${esc(s.label)}</text>`);
    });
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
