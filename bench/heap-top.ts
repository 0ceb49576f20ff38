/**
 * Summarises a V8 heap snapshot (from `npm run bench -- --heap-snapshot`): bytes per
 * connection by constructor, and, given a constructor name, what holds its instances.
 * Run: npx tsx bench/heap-top.ts bench/results/raw/<file>.heapsnapshot [conns] [Name]
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

const [file, connsArg, holdersOf] = process.argv.slice(2);
if (file === undefined) {
  console.error('usage: npx tsx bench/heap-top.ts FILE.heapsnapshot [conns] [ConstructorName]');
  process.exit(2);
}
const conns = Number(connsArg ?? 10_000);
const { snapshot, nodes, edges, strings } = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
const { node_fields: nf, node_types: [nodeTypes], edge_fields: ef, edge_types: [edgeTypes] } = snapshot.meta;
const [TYPE, NAME, SIZE, EDGES] = ['type', 'name', 'self_size', 'edge_count'].map((f) => nf.indexOf(f)) as [number, number, number, number];
const at = (i: number): number => nodes[i] ?? 0;

/** Objects and closures by constructor name; everything else by its V8 type in parentheses. */
const label = (node: number): string => {
  const type = nodeTypes[at(node + TYPE)] ?? '?';
  const name = strings[at(node + NAME)] ?? '';
  return type === 'object' ? name : type === 'closure' ? `closure ${name}` : `(${type})`;
};
const perConn = (bytes: number): string => `${(bytes / conns).toFixed(0).padStart(6)} B/conn`;
const top = (table: Map<string, [number, number]>, rows: number): void => {
  for (const [name, [bytes, count]] of [...table].sort((a, b) => b[1][0] - a[1][0]).slice(0, rows)) {
    console.log(`${perConn(bytes)} ${String(count).padStart(8)}  ${name.slice(0, 90)}`);
  }
};
const add = (table: Map<string, [number, number]>, key: string, bytes: number): void => {
  const entry = table.get(key) ?? [0, 0];
  entry[0] += bytes;
  entry[1]++;
  table.set(key, entry);
};

const byName = new Map<string, [number, number]>();
let total = 0;
for (let i = 0; i < nodes.length; i += nf.length) {
  total += at(i + SIZE);
  add(byName, label(i), at(i + SIZE));
}
console.log(`heap ${(total / 2 ** 20).toFixed(1)} MiB, ${perConn(total).trim()} over ${conns} connections`);
top(byName, 30);

if (holdersOf !== undefined) {
  const holders = new Map<string, [number, number]>();
  let e = 0;
  for (let i = 0; i < nodes.length; i += nf.length) {
    for (let k = 0; k < at(i + EDGES); k++, e += ef.length) {
      const kind = edgeTypes[edges[e] ?? 0] ?? '';
      const to = edges[e + 2] ?? 0;
      if (kind === 'weak' || label(to) !== holdersOf) continue;
      const edge = kind === 'element' || kind === 'hidden' ? `[${kind}]` : (strings[edges[e + 1] ?? 0] ?? '');
      add(holders, `${label(i)} .${edge}`, at(to + SIZE));
    }
  }
  console.log(`\nwhat holds ${holdersOf}:`);
  top(holders, 15);
}
