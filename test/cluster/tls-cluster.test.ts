/**
 * Cluster mode over TLS: the `tls` server option given by `setup` reaches every worker; two
 * workers share one wss:// port (round-robin), a plaintext client is closed cleanly by the
 * worker it lands on, and stop() closes every wss client with 1001. The fixture's `attach`
 * (of `setup`) sees each worker's server before it starts, and what it returns runs once
 * that server stopped.
 */
import { readFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCluster, type ClusterEvent, type ClusterHandle } from '../../src/cluster/cluster.js';
import { captureLogger, closed, connect, type LogEntry, type TestClient } from '../helpers/harness.js';
import { testCerts, type TestCert, type TestCerts } from '../helpers/tls-certs.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/tls-cluster-app.ts', import.meta.url));

describe('runCluster with the tls option: 2 workers on one wss:// port', () => {
  let certs: TestCerts;
  let cert: TestCert;
  let handle: ClusterHandle;
  let logged: LogEntry[];
  const events: ClusterEvent[] = [];
  let port: number;
  const clients: { client: TestClient; pid: number }[] = [];

  beforeAll(async () => {
    certs = testCerts();
    cert = certs.make('wsactor-cluster');
    const capture = captureLogger();
    logged = capture.entries;
    handle = runCluster({
      workers: 2,
      host: '127.0.0.1',
      exec: FIXTURE,
      execArgv: ['--import', 'tsx'],
      env: { FIXTURE_TLS_CERT: cert.certFile, FIXTURE_TLS_KEY: cert.keyFile, FIXTURE_ATTACH_LOG: join(certs.dir, 'attach.log') },
      handleSignals: false,
      startTimeoutMs: 20_000,
      stopTimeoutMs: 8000,
      logger: capture.logger,
      onEvent: (event) => events.push(event),
    });
    ({ port } = await handle.ready);
  }, 30_000);

  afterAll(async () => {
    await handle?.stop();
    certs?.remove();
  }, 20_000);

  it('both workers serve wss:// clients that trust the certificate', async () => {
    for (let i = 0; i < 4; i++) {
      const client = await connect(`wss://127.0.0.1:${port}/`, { ca: cert.cert });
      const { pid } = JSON.parse((await client.nextMessage(5000)).data.toString('utf8')) as { pid: number };
      client.ws.send(`echo ${i}`);
      expect((await client.nextMessage(5000)).data.toString('utf8')).toBe(`echo ${i}`);
      clients.push({ client, pid });
    }
    const pids = new Set(clients.map((c) => c.pid));
    expect(pids).toEqual(new Set(handle.workers().map((w) => w.pid)));
    expect(pids.size).toBe(2);
  });

  it('plain HTTP requests to the wss:// port are closed cleanly; no worker crashes', async () => {
    for (let i = 0; i < 2; i++) {
      const outcome = await new Promise<string>((resolve) => {
        const req = httpGet(`http://127.0.0.1:${port}/`, (res) => resolve(`answered ${res.statusCode}`));
        req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
        req.setTimeout(5000, () => req.destroy(new Error('timeout')));
      });
      expect(['ECONNRESET', 'EPIPE']).toContain(outcome);
    }
    expect(events.filter((e) => e.type === 'exit')).toEqual([]);
    expect(handle.workers()).toHaveLength(2);
    expect(logged).toEqual([]);
  });

  it('stop() closes every wss client with 1001 and every worker exits 0', async () => {
    const closes = clients.map(({ client }) => closed(client));
    await handle.stop();
    for (const close of await Promise.all(closes)) expect(close).toEqual({ code: 1001, reason: 'Server shutting down' });
    const exits = events.filter((e): e is Extract<ClusterEvent, { type: 'exit' }> => e.type === 'exit');
    expect(exits.map((e) => [e.code, e.signal, e.crashed])).toEqual([
      [0, null, false],
      [0, null, false],
    ]);
    const lines = readFileSync(join(certs.dir, 'attach.log'), 'utf8').trim().split('\n').sort();
    const pids = exits.map((e) => e.worker.pid).sort((x, y) => x - y);
    expect(lines).toEqual(
      [...pids.map((pid) => `attached ${pid} idle`), ...pids.map((pid) => `detached ${pid} stopped`)].sort(),
    );
  });
});
