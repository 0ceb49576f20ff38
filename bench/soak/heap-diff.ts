/**
 * Compares two V8 heap snapshots of one server process (taken with `npm run soak --
 * --heap-snapshot` before and after the churn phase) and names what grew: self size and count by
 * constructor (as bench/heap-top.ts labels them), and, for the constructors that grew most, the
 * retainers (holder constructor and edge name) whose held bytes grew.
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}
type Table = Map<string, [number, number]>;

export interface Growth {
  name: string;
  /** Bytes (self size) and instances, after minus before. */
  bytes: number;
  count: number;
  /** Holders whose held bytes of this constructor grew most: `Holder .edge`, bytes, count. */
  retainers: { via: string; bytes: number; count: number }[];
}

class Parsed {
  readonly total: number;
  readonly byName: Table = new Map();
  readonly #s: Snapshot;
  readonly #label: (node: number) => string;

  constructor(file: string) {
    const s = (this.#s = JSON.parse(readFileSync(file, 'utf8')) as Snapshot);
    const { node_fields: nf, node_types: [types] } = s.snapshot.meta;
    const [TYPE, NAME, SIZE] = ['type', 'name', 'self_size'].map((f) => nf.indexOf(f)) as [number, number, number];
    this.#label = (node) => {
      const type = types[s.nodes[node + TYPE] ?? 0] ?? '?';
      const name = s.strings[s.nodes[node + NAME] ?? 0] ?? '';
      return type === 'object' ? name : type === 'closure' ? `closure ${name}` : `(${type})`;
    };
    let total = 0;
    for (let i = 0; i < s.nodes.length; i += nf.length) {
      const size = s.nodes[i + SIZE] ?? 0;
      total += size;
      add(this.byName, this.#label(i), size, 1);
    }
    this.total = total;
  }

  /** For each name: holder label and edge -> bytes and count of the held objects of that name. */
  holders(names: Set<string>): Map<string, Table> {
    const s = this.#s;
    const { node_fields: nf, edge_fields: ef, edge_types: [edgeTypes] } = s.snapshot.meta;
    const [SIZE, EDGES] = ['self_size', 'edge_count'].map((f) => nf.indexOf(f)) as [number, number];
    const out = new Map<string, Table>([...names].map((n) => [n, new Map()]));
    let e = 0;
    for (let i = 0; i < s.nodes.length; i += nf.length) {
      const n = s.nodes[i + EDGES] ?? 0;
      for (let k = 0; k < n; k++, e += ef.length) {
        const kind = edgeTypes[s.edges[e] ?? 0] ?? '';
        const to = s.edges[e + 2] ?? 0;
        if (kind === 'weak') continue;
        const table = out.get(this.#label(to));
        if (table === undefined) continue;
        const edge = kind === 'element' || kind === 'hidden' ? `[${kind}]` : (s.strings[s.edges[e + 1] ?? 0] ?? '');
        add(table, `${this.#label(i)} .${edge}`, s.nodes[to + SIZE] ?? 0, 1);
      }
    }
    return out;
  }
}

function add(table: Table, key: string, bytes: number, count: number): void {
  const entry = table.get(key) ?? [0, 0];
  entry[0] += bytes;
  entry[1] += count;
  table.set(key, entry);
}

function grown(before: Table, after: Table): { name: string; bytes: number; count: number }[] {
  return [...after]
    .map(([name, [bytes, count]]) => ({ name, bytes: bytes - (before.get(name)?.[0] ?? 0), count: count - (before.get(name)?.[1] ?? 0) }))
    .filter((g) => g.bytes > 0)
    .sort((a, b) => b.bytes - a.bytes);
}

/** The `top` constructors that grew most between the two snapshots, each with its `retainers` growing retainers. */
export function heapGrowth(beforeFile: string, afterFile: string, top = 8, retainers = 3): { totalBefore: number; totalAfter: number; growth: Growth[] } {
  let before: Parsed | null = new Parsed(beforeFile);
  const after = new Parsed(afterFile);
  const list = grown(before.byName, after.byName).slice(0, top);
  const names = new Set(list.slice(0, retainers).map((g) => g.name));
  const hb = before.holders(names);
  const totalBefore = before.total;
  before = null; // one snapshot in memory at a time from here
  const ha = after.holders(names);
  const empty: Table = new Map();
  return {
    totalBefore,
    totalAfter: after.total,
    growth: list.map((g) => ({
      ...g,
      retainers: grown(hb.get(g.name) ?? empty, ha.get(g.name) ?? empty)
        .slice(0, 3)
        .map((r) => ({ via: r.name, bytes: r.bytes, count: r.count })),
    })),
  };
}
