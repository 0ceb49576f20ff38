/**
 * Compiles the cluster workers (wsactor and raw `ws`) and the client process (with the parts of src/ they import)
 * to JavaScript, as bench/lib/build.ts does for the other benchmarks and for the same reason:
 * they run under plain `node`, without a loader's costs. Own directory, so a concurrent
 * `npm run bench` does not compile over it.
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const JS_DIR = `${root}bench/results/raw/scale-js/`;
const ENTRIES = ['worker', 'raw-worker', 'client'] as const;

export function buildScaleJs(): void {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const options = ['--outDir', JS_DIR, '--rootDir', root, '--module', 'nodenext', '--moduleResolution', 'nodenext'];
  options.push('--target', 'es2022', '--types', 'node', '--skipLibCheck', '--noCheck', '--sourceMap', 'false', '--declaration', 'false');
  execFileSync(process.execPath, [tsc, ...ENTRIES.map((e) => `${root}bench/scale/${e}.ts`), ...options], { stdio: 'inherit' });
}

/** The compiled form of bench/scale/`entry`.ts. */
export function scaleJs(entry: (typeof ENTRIES)[number]): string {
  return `${JS_DIR}bench/scale/${entry}.js`;
}
