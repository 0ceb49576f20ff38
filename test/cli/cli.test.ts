/**
 * The `wsactor` command as a user runs it: a child process (`node --import tsx src/cli.ts`,
 * and once the real build, `node <build>/cli.js`) serving app modules written to a temp dir
 * at test time (a JS class, a TypeScript factory, modules that export no app). Checks the
 * help text, one-line usage errors with exit code 2, serving, a graceful stop on SIGTERM
 * (1001 to every client, onStop once per process, exit code 0 when clean and 1 when not),
 * TLS files with a SIGHUP reload, the live view, metrics and lifecycle log, and --workers 2.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closed, connect, type TestClient } from '../helpers/harness.js';
import { startRedis } from '../helpers/redis-server.js';
import { servedFingerprint, testCerts, type TestCert, type TestCerts } from '../helpers/tls-certs.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'src', 'cli.ts');

const APPS: Record<string, string> = {
  'echo-app.mjs': `
import { appendFileSync } from 'node:fs';
const log = (event) => { if (process.env.CLI_HOOK_LOG) appendFileSync(process.env.CLI_HOOK_LOG, event + ' ' + process.pid + '\\n'); };
export const options = { path: '/ws', heartbeatMs: null };
export default class EchoApp {
  onStart(endpoint) { this.endpoint = endpoint; log('start'); }
  async onOpen(id) { await this.endpoint.send(JSON.stringify({ pid: process.pid }), id); }
  async onData(id, message) {
    const text = await message.text();
    if (text === 'hang') return new Promise(() => {});
    if (text === 'clients') return void (await this.endpoint.send(JSON.stringify(await this.endpoint.getClients()), id));
    await this.endpoint.send(text, id);
  }
  onStop() { log('stop'); }
}
`,
  'ts-app.ts': `
interface Context { readonly workerId: number; readonly nodeId: number | null }
interface Sender { send(data: string, id: number): Promise<unknown> }
export const options: { path?: string } = { path: '/ts' };
export default async function makeApp(context: Context) {
  let endpoint: Sender | undefined;
  await Promise.resolve();
  return {
    onStart(e: Sender): void { endpoint = e; },
    async onOpen(id: number): Promise<void> { await endpoint?.send(JSON.stringify({ pid: process.pid, workerId: context.workerId, lang: 'ts' as const }), id); },
    async onData(id: number, message: { text(): Promise<string> }): Promise<void> { await endpoint?.send(await message.text(), id); },
  };
}
`,
  'no-default.mjs': 'export const app = { onOpen() {} };\n',
  'not-an-app.mjs': "export default { hello: 'world' };\n",
  'number.mjs': 'export default 42;\n',
  'throws.mjs': "throw new Error('boom at import');\n",
  'bad-options.mjs': "export default { onOpen() {} };\nexport const options = { colour: 'red' };\n",
  'bad-factory.mjs': 'export default () => ({ nothing: true });\n',
};

interface Run {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Waits until stdout (or stderr, with `stream`) matches `pattern`; rejects (with the output) if the process exits first or time runs out. */
  waitFor(pattern: RegExp, timeoutMs?: number, stream?: 'stdout' | 'stderr'): Promise<RegExpMatchArray>;
}

/** Commands still running: a failed test leaves none behind (afterEach kills them; cluster workers follow their primary). */
const running = new Set<ChildProcess>();

function runCli(args: readonly string[], options: { cwd?: string; env?: Record<string, string>; node?: readonly string[]; cli?: string } = {}): Run {
  const child = spawn(process.execPath, [...(options.node ?? ['--import', 'tsx']), options.cli ?? CLI, ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, HOST: '', PORT: '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  running.add(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  let done = false;
  void exited.then(() => (done = true));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    async waitFor(pattern, timeoutMs = 20_000, stream = 'stdout') {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const match = pattern.exec(stream === 'stdout' ? out : err);
        if (match !== null) return match;
        if (done || Date.now() > deadline) throw new Error(`no ${String(pattern)} in the output (${done ? 'exited' : 'timed out'})\nstdout: ${out}\nstderr: ${err}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
  };
}

/** Runs the command to its end: exit code and output. */
async function finish(args: readonly string[], options?: Parameters<typeof runCli>[1]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const run = runCli(args, options);
  const { code } = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

const SERVING = /serving \S+ on (wss?):\/\/127\.0\.0\.1:(\d+)(\/\S*)/;

function hookCounts(file: string): Map<number, { start: number; stop: number }> {
  const counts = new Map<number, { start: number; stop: number }>();
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return counts;
  }
  for (const line of text.split('\n').filter((l) => l !== '')) {
    const [event, pid] = line.split(' ');
    const entry = counts.get(Number(pid)) ?? { start: 0, stop: 0 };
    entry[event as 'start' | 'stop']++;
    counts.set(Number(pid), entry);
  }
  return counts;
}

async function hello(client: TestClient): Promise<{ pid: number; workerId?: number; lang?: string }> {
  return JSON.parse((await client.nextMessage(5000)).data.toString('utf8')) as { pid: number };
}

describe('the wsactor command', () => {
  let dir: string;
  let certs: TestCerts;
  let first: TestCert;
  let second: TestCert;
  const app = (name: string): string => join(dir, name);

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'wsactor-cli-'));
    for (const [name, source] of Object.entries(APPS)) writeFileSync(join(dir, name), source);
    certs = testCerts();
    first = certs.make('cli-first');
    second = certs.make('cli-second');
  }, 30_000);

  afterEach(() => {
    for (const child of running) child.kill('SIGKILL');
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    certs?.remove();
  });

  it('--help lists every flag with its default and exits 0', async () => {
    const { code, stdout, stderr } = await finish(['--help']);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(stdout).toMatch(/^Usage: wsactor \[options\] <app-module>/);
    for (const flag of ['--host', '--port', '--path', '--workers', '--redis', '--tls-cert', '--tls-key', '--live-view', '--metrics', '--observe-host', '--observe-port', '--lifecycle-log', '--stop-timeout', '--help', '--version']) {
      expect(stdout).toContain(flag);
    }
    expect(stdout).toContain('(default: $HOST, else options.host, else 127.0.0.1)');
    expect(stdout).toContain('(default: $PORT, else options.port, else 8080)');
    expect(stdout).toContain('(default: 1, one process)');
    expect(stdout).toContain('node --import tsx ./node_modules/.bin/wsactor app.ts');
    expect((await finish(['--version'])).stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('a bad flag or value: one line on stderr, exit code 2', async () => {
    const cases: [string[], RegExp][] = [
      [['--colour', app('echo-app.mjs')], /^wsactor: Unknown option '--colour' \(see wsactor --help\)$/],
      [['--port', '70000', app('echo-app.mjs')], /^wsactor: --port must be an integer from 0 to 65535, got "70000"/],
      [['--workers', '0', app('echo-app.mjs')], /^wsactor: --workers must be an integer from 1 to 1024, got "0"/],
      [['--redis', 'http://x', app('echo-app.mjs')], /^wsactor: --redis must be a redis:\/\/ or rediss:\/\/ URL/],
      [['--tls-cert', first.certFile, app('echo-app.mjs')], /^wsactor: --tls-cert and --tls-key go together/],
      [['--port'], /^wsactor: Option '-p, --port <value>' argument missing/],
      [[], /^wsactor: No app module given/],
      [['--path', 'ws', app('echo-app.mjs')], /^wsactor: Option "path" must start with "\/", got ws/],
      [['--tls-cert', first.certFile, '--tls-key', second.keyFile, app('echo-app.mjs')], /^wsactor: Option "tls" cannot make a TLS context: /],
    ];
    const results = await Promise.all(cases.map(([args]) => finish(args)));
    results.forEach((result, i) => {
      const [args, pattern] = cases[i] as [string[], RegExp];
      expect({ args, code: result.code, lines: result.stderr.trimEnd().split('\n').length }).toEqual({ args, code: 2, lines: 1 });
      expect(result.stderr.trim()).toMatch(pattern);
      expect(result.stdout).toBe('');
    });
  }, 40_000);

  it('a module that exports no app (or does not load): one line on stderr, exit code 2', async () => {
    const cases: [string, RegExp][] = [
      ['no-default.mjs', /has no default export: export the app/],
      ['not-an-app.mjs', /its default export is an object without Websocket hooks, not an app/],
      ['number.mjs', /its default export is number, not an app/],
      ['throws.mjs', /Cannot load .*throws\.mjs: boom at import/],
      ['missing.mjs', /App module not found: .*missing\.mjs/],
      ['bad-options.mjs', /Unknown option "colour"/],
      ['bad-factory.mjs', /its default export function returned an object without Websocket hooks, not an app/],
    ];
    const results = await Promise.all(cases.map(([name]) => finish([app(name)])));
    results.forEach((result, i) => {
      const [name, pattern] = cases[i] as [string, RegExp];
      expect({ name, code: result.code, lines: result.stderr.trimEnd().split('\n').length }).toEqual({ name, code: 2, lines: 1 });
      expect(result.stderr).toMatch(/^wsactor: /);
      expect(result.stderr).toMatch(pattern);
    });
  }, 40_000);

  it('serves a class app with its exported options; live view, metrics and lifecycle log when asked; SIGTERM: 1001, onStop once, exit 0', async () => {
    const hooks = join(dir, 'standalone-hooks.log');
    const lifecycle = join(dir, 'standalone-lifecycle.jsonl');
    const run = runCli(['--port', '0', '--live-view', '--metrics', '--lifecycle-log', lifecycle, app('echo-app.mjs')], { env: { CLI_HOOK_LOG: hooks } });
    const [, scheme, port, path] = await run.waitFor(SERVING);
    expect([scheme, path]).toEqual(['ws', '/ws']);
    const [, viewUrl] = await run.waitFor(/live view at (http:\/\/127\.0\.0\.1:\d+\/_wsactor)/);
    const [, metricsUrl] = await run.waitFor(/metrics at (http:\/\/127\.0\.0\.1:\d+\/metrics)/);

    const clients = [await connect(`ws://127.0.0.1:${port}/ws`), await connect(`ws://127.0.0.1:${port}/ws`)];
    for (const client of clients) expect((await hello(client)).pid).toBe(run.child.pid);
    clients[0]?.ws.send('over the command');
    expect((await clients[0]?.nextMessage())?.data.toString()).toBe('over the command');

    const state = (await (await fetch(`${viewUrl}/state`)).json()) as Record<string, unknown>;
    expect(JSON.stringify(state)).toContain('running');
    const metrics = await (await fetch(metricsUrl ?? '')).text();
    expect(metrics).toMatch(/wsactor_messages_total\{direction="in"\} 1/);

    const closes = clients.map((client) => closed(client));
    run.child.kill('SIGTERM');
    for (const close of await Promise.all(closes)) expect(close).toEqual({ code: 1001, reason: 'Server shutting down' });
    expect(await run.exited).toEqual({ code: 0, signal: null });
    expect(run.stdout()).toContain('wsactor: stopped cleanly');
    expect(run.stderr()).toBe('');
    expect([...hookCounts(hooks).values()]).toEqual([{ start: 1, stop: 1 }]);
    const events = readFileSync(lifecycle, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { kind: string; to: string });
    expect(events.filter((e) => e.kind === 'server').map((e) => e.to)).toEqual(expect.arrayContaining(['running', 'stopping']));
    expect(events.filter((e) => e.kind === 'connection').map((e) => e.to)).toContain('closed');
  }, 40_000);

  it('a stop that cuts a client at --stop-timeout is not clean: exit code 1, one line says why', async () => {
    const run = runCli(['--port', '0', '--stop-timeout', '300', app('echo-app.mjs')]);
    const [, , port] = await run.waitFor(SERVING);
    const client = await connect(`ws://127.0.0.1:${port}/ws`);
    await hello(client);
    client.ws.send('hang');
    await new Promise((resolve) => setTimeout(resolve, 100));
    run.child.kill('SIGINT');
    expect(await run.exited).toEqual({ code: 1, signal: null });
    expect(run.stderr()).toMatch(/wsactor: stopped, not cleanly: 1 clients cut at the stop timeout/);
    await closed(client);
  }, 30_000);

  it('--tls-cert/--tls-key serve wss://; SIGHUP reloads the files without a restart', async () => {
    const certFile = join(dir, 'live.crt');
    const keyFile = join(dir, 'live.key');
    copyFileSync(first.certFile, certFile);
    copyFileSync(first.keyFile, keyFile);
    const run = runCli(['-p', '0', '--tls-cert', certFile, '--tls-key', keyFile, app('echo-app.mjs')]);
    const [, scheme, port] = await run.waitFor(SERVING);
    expect(scheme).toBe('wss');
    const before = await connect(`wss://127.0.0.1:${port}/ws`, { ca: first.cert });
    await hello(before);
    expect(await servedFingerprint(Number(port), first.cert)).toBe(first.fingerprint256);

    copyFileSync(second.certFile, certFile);
    copyFileSync(second.keyFile, keyFile);
    run.child.kill('SIGHUP');
    await run.waitFor(/reloaded the TLS certificate/);
    expect(await servedFingerprint(Number(port), second.cert)).toBe(second.fingerprint256);
    const after = await connect(`wss://127.0.0.1:${port}/ws`, { ca: second.cert });
    await hello(after);
    before.ws.send('still on the old certificate');
    expect((await before.nextMessage()).data.toString()).toBe('still on the old certificate');

    // A key that does not match the certificate: the reload fails, the current certificate stays.
    writeFileSync(keyFile, first.key);
    run.child.kill('SIGHUP');
    await run.waitFor(/TLS reload failed, the current certificate stays: Option "tls" cannot make a TLS context: .*key values mismatch/, 10_000, 'stderr');
    expect(await servedFingerprint(Number(port), second.cert)).toBe(second.fingerprint256);

    const closes = [closed(before), closed(after)];
    run.child.kill('SIGTERM');
    for (const close of await Promise.all(closes)) expect(close.code).toBe(1001);
    expect(await run.exited).toEqual({ code: 0, signal: null });
  }, 40_000);

  it('--workers 2 runs a cluster (here over TLS, with metrics): SIGTERM closes every client with 1001, onStop once per worker, exit 0', async () => {
    const hooks = join(dir, 'cluster-hooks.log');
    const lifecycle = join(dir, 'cluster-lifecycle.jsonl');
    const run = runCli(['-p', '0', '-w', '2', '--tls-cert', first.certFile, '--tls-key', first.keyFile, '--metrics', '--lifecycle-log', lifecycle, app('echo-app.mjs')], {
      env: { CLI_HOOK_LOG: hooks },
    });
    const [, scheme, port] = await run.waitFor(SERVING, 30_000);
    expect(scheme).toBe('wss');
    expect(run.stdout()).toMatch(/with 2 workers \(pids \d+, \d+\)/);
    const metricsUrls = new Map([...run.stdout().matchAll(/worker (\d+): metrics at (\S+)/g)].map((m) => [Number(m[1]), m[2] ?? '']));
    expect(metricsUrls.size).toBe(2);

    const clients: { client: TestClient; pid: number }[] = [];
    for (let i = 0; i < 4; i++) {
      const client = await connect(`wss://127.0.0.1:${port}/ws`, { ca: first.cert });
      clients.push({ client, pid: (await hello(client)).pid });
    }
    const pids = new Set(clients.map((c) => c.pid));
    expect(pids.size).toBe(2);
    expect(pids.has(run.child.pid ?? -1)).toBe(false);
    expect(new Set(metricsUrls.keys())).toEqual(pids);
    for (const [pid, url] of metricsUrls) {
      const open = clients.filter((c) => c.pid === pid).length;
      expect(await (await fetch(url)).text()).toContain(`wsactor_connections{state="open.ready"} ${open}`);
    }

    const closes = clients.map(({ client }) => closed(client));
    run.child.kill('SIGTERM');
    for (const close of await Promise.all(closes)) expect(close).toEqual({ code: 1001, reason: 'Server shutting down' });
    expect(await run.exited).toEqual({ code: 0, signal: null });
    expect(run.stdout()).toContain('wsactor: stopped cleanly (2 workers)');
    const counts = hookCounts(hooks);
    expect(new Set(counts.keys())).toEqual(pids);
    for (const pid of pids) expect(counts.get(pid)).toEqual({ start: 1, stop: 1 });
    const clientIds = new Set(
      readFileSync(lifecycle, 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { clientId?: number })
        .filter((e) => e.clientId !== undefined)
        .map((e) => Math.floor((e.clientId ?? 0) / 2 ** 32)),
    );
    expect(clientIds.size).toBe(2);
  }, 60_000);

  it('--workers 2 --redis: one Endpoint across the workers (each sees the clients of both)', async () => {
    const redis = await startRedis();
    try {
      const run = runCli(['-p', '0', '-w', '2', '--redis', redis.url, app('echo-app.mjs')]);
      const [, , port] = await run.waitFor(SERVING, 30_000);
      const clients: { client: TestClient; pid: number }[] = [];
      for (let i = 0; i < 2; i++) {
        const client = await connect(`ws://127.0.0.1:${port}/ws`);
        clients.push({ client, pid: (await hello(client)).pid });
      }
      expect(new Set(clients.map((c) => c.pid)).size).toBe(2);
      for (const { client } of clients) {
        client.ws.send('clients');
        expect(JSON.parse((await client.nextMessage(5000)).data.toString()) as number[]).toHaveLength(2);
      }
      const closes = clients.map(({ client }) => closed(client));
      run.child.kill('SIGTERM');
      for (const close of await Promise.all(closes)) expect(close.code).toBe(1001);
      expect(await run.exited).toEqual({ code: 0, signal: null });
    } finally {
      await redis.stop();
    }
  }, 60_000);

  it('the build: node <dist>/cli.js runs a JS app from a relative path; a TS app needs a loader (one line, exit 2) and runs with node --import tsx', async () => {
    const build = mkdtempSync(join(tmpdir(), 'wsactor-cli-build-'));
    try {
      // What an install gives: the package (its package.json, dist) and its dependencies beside it.
      copyFileSync(join(ROOT, 'package.json'), join(build, 'package.json'));
      symlinkSync(join(ROOT, 'node_modules'), join(build, 'node_modules'), 'dir');
      // The build's settings (tsconfig.build.json), for the command and what it imports only.
      const tsconfig = join(build, 'tsconfig.json');
      writeFileSync(
        tsconfig,
        JSON.stringify({ extends: join(ROOT, 'tsconfig.build.json'), compilerOptions: { rootDir: join(ROOT, 'src'), outDir: join(build, 'dist') }, files: [CLI], include: [] }),
      );
      await new Promise<void>((resolve, reject) =>
        execFile(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', tsconfig], { timeout: 90_000 }, (error, stdout) =>
          error === null ? resolve() : reject(new Error(`build failed: ${error.message}\n${stdout}`)),
        ),
      );
      for (const name of ['echo-app.mjs', 'ts-app.ts']) copyFileSync(app(name), join(build, name));
      const cli = join(build, 'dist', 'cli.js');
      expect(readFileSync(cli, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
      const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin?: Record<string, string> };
      expect(pkg.bin).toEqual({ wsactor: './dist/cli.js' });

      const js = runCli(['-p', '0', './echo-app.mjs'], { cwd: build, node: [], cli });
      const [, , jsPort] = await js.waitFor(SERVING);
      const jsClient = await connect(`ws://127.0.0.1:${jsPort}/ws`);
      expect((await hello(jsClient)).pid).toBe(js.child.pid);
      js.child.kill('SIGTERM');
      expect(await closed(jsClient)).toMatchObject({ code: 1001 });
      expect(await js.exited).toEqual({ code: 0, signal: null });

      const noLoader = await finish(['./ts-app.ts'], { cwd: build, node: [], cli });
      expect(noLoader.code).toBe(2);
      expect(noLoader.stderr.trimEnd().split('\n')).toEqual([
        'wsactor: Cannot load ./ts-app.ts: TypeScript needs a loader, e.g. node --import tsx ./node_modules/.bin/wsactor ./ts-app.ts (see wsactor --help)',
      ]);

      const ts = runCli(['-p', '0', './ts-app.ts'], { cwd: build, node: ['--import', 'tsx'], cli });
      const [, , tsPort, tsPath] = await ts.waitFor(SERVING);
      expect(tsPath).toBe('/ts');
      const tsClient = await connect(`ws://127.0.0.1:${tsPort}/ts`);
      expect(await hello(tsClient)).toEqual({ pid: ts.child.pid, workerId: 0, lang: 'ts' });
      tsClient.ws.send('typed');
      expect((await tsClient.nextMessage()).data.toString()).toBe('typed');
      ts.child.kill('SIGINT');
      expect(await closed(tsClient)).toMatchObject({ code: 1001 });
      expect(await ts.exited).toEqual({ code: 0, signal: null });
    } finally {
      rmSync(build, { recursive: true, force: true });
    }
  }, 120_000);
});
