/**
 * Compiles the soak's servers and client (with the parts of src/ they import) to JavaScript
 * under bench/results/raw/soak-js/, as bench/lib/build.ts does for the other benchmarks: the
 * children run under plain `node`, without a loader's costs. Own directory, so a concurrent
 * `npm run bench` does not compile over it.
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const JS_DIR = `${root}bench/results/raw/soak-js/`;
const ENTRIES = ['server', 'raw-server', 'client'] as const;

export function buildSoakJs(): void {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const options = ['--outDir', JS_DIR, '--rootDir', root, '--module', 'nodenext', '--moduleResolution', 'nodenext'];
  options.push('--target', 'es2022', '--types', 'node', '--skipLibCheck', '--noCheck', '--sourceMap', 'false', '--declaration', 'false');
  execFileSync(process.execPath, [tsc, ...ENTRIES.map((e) => `${root}bench/soak/${e}.ts`), ...options], { stdio: 'inherit' });
}

/** The compiled form of bench/soak/`entry`.ts. */
export function soakJs(entry: (typeof ENTRIES)[number]): string {
  return `${JS_DIR}bench/soak/${entry}.js`;
}
