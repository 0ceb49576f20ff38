/**
 * Summarises a V8 .cpuprofile (from `npm run bench -- --cpu-prof`): the functions with the
 * most self time, and the share of time spent under src/ (wsactor) and xstate. Given a
 * directory, reads its largest profile (the main thread; tsx's loader thread writes one too).
 * `skip` leaves out the first seconds (process start-up and module loading). Last, the time
 * under each innermost src/ function, to see which part of wsactor drives the cost.
 * Run: npx tsx bench/profile-top.ts bench/results/raw/<dir or file> [rows] [skip seconds]
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [target, rowsArg, skipArg] = process.argv.slice(2);
if (target === undefined) {
  console.error('usage: npx tsx bench/profile-top.ts DIR|FILE.cpuprofile [rows] [skip seconds]');
  process.exit(2);
}
const largest = (dir: string): string =>
  readdirSync(dir)
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).size - statSync(a).size)[0] ?? dir;
const file = statSync(target).isDirectory() ? largest(target) : target;
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const skipUs = Number(skipArg ?? 0) * 1e6;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const self = new Map<number, number>();
let elapsed = 0;
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  elapsed += dt;
  if (elapsed >= skipUs) self.set(id, (self.get(id) ?? 0) + dt);
});
const total = [...self.values()].reduce((a, b) => a + b, 0);
const idle = [...self].filter(([id]) => byId.get(id)?.callFrame.functionName === '(idle)').reduce((a, [, t]) => a + t, 0);

const where = (n: ProfileNode): string => {
  const url = n.callFrame.url.replace(/^file:\/\/.*?\/(bench\/results\/raw\/js\/)?(?=(node_modules|src|bench|examples)\/)/, '');
  return `${n.callFrame.functionName || '(anonymous)'} ${url}:${n.callFrame.lineNumber + 1}`;
};
const grouped = new Map<string, number>();
for (const [id, t] of self) {
  const node = byId.get(id);
  if (node !== undefined) grouped.set(where(node), (grouped.get(where(node)) ?? 0) + t);
}

/** Time of samples whose stack passes through a frame whose url matches `test`. */
const under = (test: (url: string) => boolean): number => {
  let sum = 0;
  for (const [id, t] of self) {
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      if (test(byId.get(cur)?.callFrame.url ?? '')) {
        sum += t;
        break;
      }
    }
  }
  return sum;
};
const pct = (t: number): string => `${((100 * t) / (total - idle)).toFixed(1)}%`;

console.log(`busy ${((total - idle) / 1000).toFixed(0)} ms of ${(total / 1000).toFixed(0)} ms sampled`);
const isSrc = (url: string): boolean => url.includes('/src/') && !url.includes('/node_modules/');
console.log(`under src/: ${pct(under(isSrc))}, under xstate: ${pct(under((u) => u.includes('/xstate/')))}`);
/** Self time by where the code lives: a package, src/, Node itself, GC, native. */
const area = (url: string, name: string): string => {
  if (url === '') return name === '(garbage collector)' ? 'GC' : 'native/program';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg !== null) return pkg[1] ?? '?';
  if (url.startsWith('node:')) return 'node';
  return isSrc(url) ? 'src' : 'other';
};
const areas = new Map<string, number>();
for (const [id, t] of self) {
  const frame = byId.get(id)?.callFrame;
  if (frame === undefined || frame.functionName === '(idle)') continue;
  const key = area(frame.url, frame.functionName);
  areas.set(key, (areas.get(key) ?? 0) + t);
}
console.log(`self time: ${[...areas].sort((a, b) => b[1] - a[1]).map(([k, t]) => `${k} ${pct(t)}`).join(', ')}`);
const rows = [...grouped].filter(([name]) => !name.startsWith('(idle)')).sort((a, b) => b[1] - a[1]);
for (const [name, t] of rows.slice(0, Number(rowsArg ?? 25))) console.log(`${pct(t).padStart(6)}  ${name}`);

/** Inclusive time by the innermost wsactor (src/) function on the stack. */
const bySrc = new Map<string, number>();
for (const [id, t] of self) {
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const node = byId.get(cur);
    if (node !== undefined && isSrc(node.callFrame.url)) {
      bySrc.set(where(node), (bySrc.get(where(node)) ?? 0) + t);
      break;
    }
  }
}
if (bySrc.size > 0) {
  console.log('\ninnermost src/ function on the stack (inclusive):');
  for (const [name, t] of [...bySrc].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`${pct(t).padStart(6)}  ${name}`);
}
