/**
 * Collects per-round values of each metric, then prints the table (medians, ratio
 * wsactor/raw ws, target, pass/miss) and writes the results file.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname } from 'node:path';
import type { ServerKind } from './protocol.js';

export interface MetricSpec {
  id: string;
  label: string;
  unit: string;
  /** Target on the ratio wsactor / raw ws, if the issue sets one. */
  target?: { op: '>=' | '<='; ratio: number; note?: string };
}

interface Metric extends MetricSpec {
  values: Record<ServerKind, number[]>;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function fmt(value: number, unit = ''): string {
  if (!Number.isFinite(value)) return '–';
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  const text = value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
  return unit === '' ? text : `${text} ${unit}`;
}

export class Results {
  readonly #metrics = new Map<string, Metric>();

  add(spec: MetricSpec, kind: ServerKind, value: number): void {
    let metric = this.#metrics.get(spec.id);
    if (metric === undefined) {
      metric = { ...spec, values: { raw: [], wsactor: [], tcp: [], floor: [] } };
      this.#metrics.set(spec.id, metric);
    }
    metric.values[kind].push(value);
  }

  rows(): {
    id: string;
    label: string;
    unit: string;
    raw: number;
    wsactor: number;
    tcp: number;
    /** raw ws + one connection actor (churn and storm): the actor's floor. */
    floor: number;
    ratio: number;
    target: string;
    pass: boolean | null;
    rounds: Record<ServerKind, number[]>;
  }[] {
    return [...this.#metrics.values()].map((m) => {
      const raw = median(m.values.raw);
      const wsactor = median(m.values.wsactor);
      const ratio = wsactor / raw;
      const t = m.target;
      const pass = t === undefined || !Number.isFinite(ratio) ? null : t.op === '>=' ? ratio >= t.ratio : ratio <= t.ratio;
      const target = t === undefined ? '' : `${t.op} ${t.ratio.toFixed(2)}${t.note === undefined ? '' : ` (${t.note})`}`;
      const round = (v: number): number => Number(v.toPrecision(4));
      const rounds = { raw: m.values.raw.map(round), wsactor: m.values.wsactor.map(round), tcp: m.values.tcp.map(round), floor: m.values.floor.map(round) };
      return { id: m.id, label: m.label, unit: m.unit, raw, wsactor, tcp: median(m.values.tcp), floor: median(m.values.floor), ratio, target, pass, rounds };
    });
  }

  /** The table as text, one metric per line. */
  table(): string {
    const rows = this.rows();
    const withFloor = rows.some((r) => Number.isFinite(r.floor));
    const header = ['metric', 'raw ws', 'wsactor', 'ratio', 'target', 'result', 'tcp ceiling', ...(withFloor ? ['ws+actor floor', 'wsactor/floor'] : [])];
    const lines = rows.map((r) => [
      r.label,
      fmt(r.raw, r.unit),
      fmt(r.wsactor, r.unit),
      Number.isFinite(r.ratio) ? `${r.ratio.toFixed(2)}x` : '–',
      r.target,
      r.pass === null ? '' : r.pass ? 'pass' : 'MISS',
      Number.isFinite(r.tcp) ? fmt(r.tcp, r.unit) : '',
      ...(withFloor ? [Number.isFinite(r.floor) ? fmt(r.floor, r.unit) : '', Number.isFinite(r.wsactor / r.floor) ? `${(r.wsactor / r.floor).toFixed(2)}x` : ''] : []),
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] as string).length)));
    const render = (cells: string[]): string =>
      cells.map((c, i) => (i === 0 || i >= 4 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ').trimEnd();
    return [render(header), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(render)].join('\n');
  }

  /** Writes the results: run facts first, then one line per metric (keeps the file small). */
  write(file: string, meta: Record<string, unknown>): void {
    const head = { date: new Date().toISOString(), node: process.version, cpus: cpus().length, ...meta };
    const round = (v: number): number | null => (Number.isFinite(v) ? Number(v.toPrecision(4)) : null);
    const metrics = this.rows().map((r) => {
      const values = { raw: round(r.raw), wsactor: round(r.wsactor), tcp: round(r.tcp), floor: round(r.floor), ratio: round(r.ratio) };
      const line = { id: r.id, label: r.label, unit: r.unit, ...values, target: r.target || null, pass: r.pass, rounds: r.rounds };
      return `  ${JSON.stringify(line)}`;
    });
    const body = JSON.stringify({ ...head, ratio: 'wsactor / raw ws (medians over rounds)' }, null, 1).replace(/\n}$/, '');
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${body},\n "metrics": [\n${metrics.join(',\n')}\n ]\n}\n`);
  }
}
