/**
 * The published package, as a user gets it (issue 10 part 4): `npm pack` builds first (the
 * `prepack` script; the copy packed here has no dist/ before), the tarball is installed into an
 * empty project with nothing but its own dependencies (no dev dependencies, and not the optional
 * peers ioredis and prom-client), a small TypeScript consumer is type-checked against the
 * published types with the repo's TypeScript and run: a server on port 0, an echo through `ws`,
 * stop. Without the peers, `import('wsactor/redis')`, `redisAdapter()` and `createMetrics()` fail
 * with MissingDependencyError. The repo's files are copied to a temp dir first, so the repo's
 * own dist/ is never touched.
 *
 * About 10 s (a build, an npm install from the local npm cache when it has ws and xstate, two
 * tsc runs), so it runs in `npm test`; `npm run test:pack` runs it alone, and
 * WSACTOR_PACK_TEST=0 skips it (e.g. offline with an empty npm cache).
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TSC = join(root, 'node_modules/typescript/bin/tsc');
const enabled = process.env.WSACTOR_PACK_TEST !== '0';

/** The environment of a child npm: none of the `npm_*` variables of an enclosing `npm test`. */
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith('npm_')));

function run(file: string, args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(file, args, { cwd, env: cleanEnv, timeout: 120_000, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      done({ code, stdout, stderr });
    });
  });
}

async function mustRun(file: string, args: string[], cwd: string): Promise<string> {
  const result = await run(file, args, cwd);
  if (result.code !== 0) throw new Error(`${file} ${args.join(' ')} failed (${result.code}):\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/** The consumer: typed against every entry point; `start()` serves an echo app on port 0. */
const APP_TS = `
import { createServer, ErrorCodes, MissingDependencyError, WsActorError, type Endpoint, type Message, type Websocket } from 'wsactor';
import { memoryCluster, type ClusterAdapter } from 'wsactor/cluster';
import { createLiveView, type MetricsOptions } from 'wsactor/observe';
import type { RedisAdapterOptions } from 'wsactor/redis';
import { closeCodeFor } from 'wsactor/internals';
import { checkApp, connect } from 'wsactor/testing';

class Echo implements Websocket {
  #endpoint: Endpoint | null = null;
  onStart(endpoint: Endpoint): void {
    this.#endpoint = endpoint;
  }
  async onData(clientId: number, message: Message): Promise<void> {
    await this.#endpoint?.send(await message.text(), clientId);
  }
}

export async function start(): Promise<{ port: number; stop: () => Promise<void> }> {
  const cluster: ClusterAdapter = memoryCluster().adapter();
  const server = createServer(new Echo(), { host: '127.0.0.1', port: 0, cluster });
  const view = createLiveView(server);
  await server.start();
  const address = server.address();
  if (address === null) throw new Error('no address');
  return { port: address.port, stop: async () => { view.close(); await server.stop(); } };
}

export const typesOnly: { redis: RedisAdapterOptions; metrics: MetricsOptions } = { redis: { url: 'redis://127.0.0.1:6379' }, metrics: { prefix: 'app_' } };
export const missingCode: string = ErrorCodes.MISSING_DEPENDENCY;
export const isMissing = (error: unknown): error is MissingDependencyError => error instanceof MissingDependencyError && error instanceof WsActorError;
export const internals: typeof closeCodeFor = closeCodeFor;

/** The typed test client of wsactor/testing (needs no fast-check). */
export async function echoThroughTestClient(port: number): Promise<string> {
  const client = await connect('ws://127.0.0.1:' + port + '/');
  client.send('through wsactor/testing');
  const reply = await client.nextMessage({ decode: (m) => m.text });
  await client.close(1000);
  return reply;
}
export const checkAppType: typeof checkApp = checkApp;
`;

/** Runs the compiled consumer: the echo, then the features whose peers are not installed. */
const CHECK_MJS = `
import { createRequire } from 'node:module';
import WebSocket from 'ws';
import { start, isMissing, echoThroughTestClient, checkAppType } from './out/app.js';

const report = {};
const { port, stop } = await start();
report.echo = await new Promise((done, fail) => {
  const ws = new WebSocket('ws://127.0.0.1:' + port + '/');
  ws.on('open', () => ws.send('hello from the packed package'));
  ws.on('message', (data) => { ws.close(1000); done(String(data)); });
  ws.on('error', fail);
});
report.testClient = await echoThroughTestClient(port);
await stop();
try { await checkAppType({ app: () => ({}), messages: null }); report.checkApp = 'ran'; } catch (error) { report.checkApp = error.message; }

const failure = (error) => ({ missing: isMissing(error), name: error.name, code: error.code, dependency: error.dependency, install: error.install, message: error.message });
const wsactor = await import('wsactor');
try { await import('wsactor/redis'); report.redisEntry = 'loaded'; } catch (error) { report.redisEntry = failure(error); }
try { wsactor.redisAdapter({}); report.redisAdapter = 'created'; } catch (error) { report.redisAdapter = failure(error); }
try { wsactor.createMetrics(wsactor.createServer({})); report.createMetrics = 'created'; } catch (error) { report.createMetrics = failure(error); }
try { await import('wsactor/dist/index.js'); report.deepImport = 'loaded'; } catch (error) { report.deepImport = error.code; }
const resolveFrom = createRequire(import.meta.url);
report.installed = ['ioredis', 'prom-client', 'ws', 'xstate'].filter((name) => { try { resolveFrom.resolve(name); return true; } catch { return false; } });
console.log(JSON.stringify(report));
process.exit(0);
`;

describe.skipIf(!enabled)('the packed package', () => {
  let work = '';
  let tarball = '';
  let packed: { filename: string; files: { path: string }[] } | undefined;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'wsactor-pack-'));
    // What npm packs and what prepack builds from; node_modules for tsc only (not packed).
    const source = join(work, 'package');
    for (const file of ['package.json', 'README.md', 'LICENSE', 'tsconfig.json', 'tsconfig.build.json', 'src']) {
      if (existsSync(join(root, file))) cpSync(join(root, file), join(source, file), { recursive: true });
    }
    symlinkSync(join(root, 'node_modules'), join(source, 'node_modules'), 'dir');
    const out = await mustRun('npm', ['pack', '--json', '--pack-destination', work], source);
    packed = (JSON.parse(out.slice(out.indexOf('['))) as { filename: string; files: { path: string }[] }[])[0];
    tarball = join(work, packed?.filename ?? 'missing.tgz');

    const app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    await mustRun('npm', ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], app);
    writeFileSync(join(app, 'app.ts'), APP_TS);
    writeFileSync(join(app, 'check.mjs'), CHECK_MJS);
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          // What \`tsc --init\` writes; see the last test for a full check of wsactor's .d.ts.
          skipLibCheck: true,
          // @types/node is the consumer's own dev dependency; borrowed from the repo, alone.
          typeRoots: [join(root, 'node_modules/@types')],
          types: ['node'],
          outDir: 'out',
          rootDir: '.',
        },
        files: ['app.ts'],
      }),
    );
  }, 180_000);

  afterAll(() => {
    if (work !== '') rmSync(work, { recursive: true, force: true });
  });

  it('npm pack built dist first, and packs only dist (with every entry point) and the package files', () => {
    const files = (packed?.files ?? []).map((f) => f.path).sort();
    for (const entry of ['index', 'internals', 'entries/cluster', 'entries/redis', 'entries/observe']) {
      expect(files, entry).toContain(`dist/${entry}.js`);
      expect(files, entry).toContain(`dist/${entry}.d.ts`);
    }
    expect(files.filter((f) => !f.startsWith('dist/'))).toEqual(expect.arrayContaining(['README.md', 'package.json']));
    expect(files.filter((f) => !f.startsWith('dist/') && !['README.md', 'package.json', 'LICENSE'].includes(f))).toEqual([]);
  });

  it('installs without the optional peers, type-checks a consumer against the published types, and serves an echo', async () => {
    const app = join(work, 'app');
    const installed = JSON.parse(readFileSync(join(app, 'node_modules/wsactor/package.json'), 'utf8')) as { peerDependenciesMeta?: unknown };
    expect(installed.peerDependenciesMeta).toEqual({ ioredis: { optional: true }, 'prom-client': { optional: true }, 'fast-check': { optional: true } });
    await mustRun(process.execPath, [TSC, '-p', '.'], app); // type-checks, then emits out/app.js
    const report = JSON.parse((await mustRun(process.execPath, ['check.mjs'], app)).trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
    expect(report.installed).toEqual(['ws', 'xstate']);
    expect(report.echo).toBe('hello from the packed package');
    expect(report.testClient).toBe('through wsactor/testing');
    expect(report.checkApp).toMatch(/checkApp\(\) needs the "fast-check" package.*npm install --save-dev fast-check@4/);
    const missing = (dependency: string, feature: string, major: number): unknown => ({
      missing: true,
      name: 'MissingDependencyError',
      code: 'WSA_ERR_MISSING_DEPENDENCY',
      dependency,
      install: `npm install ${dependency}@${major}`,
      message: `${feature} needs the "${dependency}" package, which is not installed (it is an optional peer dependency of wsactor): run "npm install ${dependency}@${major}"`,
    });
    expect(report.redisEntry).toEqual(missing('ioredis', 'wsactor/redis', 5));
    expect(report.redisAdapter).toEqual(missing('ioredis', 'redisAdapter', 5));
    expect(report.createMetrics).toEqual(missing('prom-client', 'createMetrics', 15));
    expect(report.deepImport).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  it('with skipLibCheck off, the only errors in the published types are the absent optional peers', async () => {
    // Known limit: the option types of redisAdapter (ioredis RedisOptions) and createMetrics
    // (prom-client Registry) and checkApp's messages (a fast-check Arbitrary) name the peers' own types, so a full lib check without them
    // installed reports those imports and nothing else (the types then resolve to any).
    const result = await run(process.execPath, [TSC, '-p', '.', '--noEmit', '--skipLibCheck', 'false'], join(work, 'app'));
    expect(result.stderr).toBe('');
    const lines = result.stdout.split('\n').filter((line) => line.trim() !== '');
    for (const line of lines) expect(line).toMatch(/^node_modules\/wsactor\/dist\/.*error TS2307: Cannot find module '(ioredis|prom-client|fast-check)'/);
  });
});
