/**
 * Compiles the bench servers and load generators (with the parts of src/ and examples/ they
 * import) to plain JavaScript with the project's TypeScript, so every child process runs
 * compiled code under plain `node`, as a deployed app would: a loader such as tsx adds its own
 * costs (esbuild's keepNames gives each named closure an own `name` property, about 50 bytes).
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
/** Where the JavaScript goes (git ignores bench/results/raw/). */
export const JS_DIR = `${root}bench/results/raw/js/`;

const ENTRIES = [
  ...['servers/raw-ws', 'servers/wsactor', 'servers/tcp-echo', 'servers/raw-ws-machine', 'servers/wsactor-machine', 'servers/raw-ws-actor'],
  ...['load/echo', 'load/churn', 'load/hold', 'load/players', 'load/storm'],
];

export function buildJs(): void {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const options = ['--outDir', JS_DIR, '--rootDir', root, '--module', 'nodenext', '--moduleResolution', 'nodenext'];
  options.push('--target', 'es2022', '--types', 'node', '--skipLibCheck', '--noCheck', '--sourceMap', 'false', '--declaration', 'false');
  execFileSync(process.execPath, [tsc, ...ENTRIES.map((e) => `${root}bench/${e}.ts`), ...options], { stdio: 'inherit' });
}

/** The compiled form of bench/`entry`.ts. */
export function jsFile(entry: string): string {
  return `${JS_DIR}bench/${entry.replace(/\.ts$/, '')}.js`;
}
