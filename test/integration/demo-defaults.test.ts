/**
 * The chat demo is safe by default: `npm start` listens on 127.0.0.1 and serves no live view or
 * metrics; `--observe` (or OBSERVE=1) turns them on, `--host` widens the listener.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { get } from 'node:http';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGTERM');
});

/** Starts the demo as `npm start` does, with `args`; resolves with its first output line. */
function startDemo(args: string[], env: Record<string, string> = {}): Promise<{ line: string; port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/chat/server.ts', '--port', '0', ...args], {
    cwd: root,
    env: { ...process.env, HOST: '', OBSERVE: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return new Promise((resolveLine, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n')[0] ?? '';
      const port = /:(\d+) \(listening/.exec(line)?.[1];
      if (port !== undefined) resolveLine({ line, port: Number(port) });
    });
    child.once('exit', (code) => reject(new Error(`demo exited with ${String(code)}: ${out}`)));
  });
}

function status(port: number, path: string): Promise<number> {
  return new Promise((resolveStatus, reject) => {
    get({ host: '127.0.0.1', port, path }, (res) => {
      res.resume();
      resolveStatus(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

describe('chat demo defaults', () => {
  it('listens on 127.0.0.1 and serves neither the live view nor metrics', async () => {
    const { line, port } = await startDemo([]);
    expect(line).toBe(`wsactor chat running at http://127.0.0.1:${port} (listening on 127.0.0.1)`);
    expect(await status(port, '/')).toBe(200);
    expect(await status(port, '/_wsactor')).toBe(404);
    expect(await status(port, '/metrics')).toBe(404);
  }, 20_000);

  it('--observe serves them', async () => {
    const { port } = await startDemo(['--observe']);
    expect(await status(port, '/_wsactor')).toBe(200);
    expect(await status(port, '/metrics')).toBe(200);
  }, 20_000);
});
