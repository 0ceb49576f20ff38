/**
 * Cluster mode with real worker processes: the test process is the primary of clusters
 * whose workers run fixtures/cluster-app.ts under tsx, serving real `ws` clients on
 * 127.0.0.1. One more cluster runs the fixture as its own primary, to signal it.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterError, ErrorCodes, InvalidOptionError } from '../../src/errors.js';
import { runCluster, type ClusterEvent, type ClusterHandle, type ClusterOptions, type ClusterReady } from '../../src/cluster/cluster.js';
import { captureLogger, closed, connect, waitFor, type LogEntry, type TestClient } from '../helpers/harness.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/cluster-app.ts', import.meta.url));
const NODE_SHIFT = 2 ** 32;

/** A connected client and what its first message said about it. */
interface Joined {
  readonly client: TestClient;
  readonly id: number;
  readonly pid: number;
}

async function joinOne(port: number): Promise<Joined> {
  const client = await connect(`ws://127.0.0.1:${port}/`);
  const hello = JSON.parse((await client.nextMessage(5000)).data.toString('utf8')) as { id: number; pid: number };
  return { client, id: hello.id, pid: hello.pid };
}

async function joinMany(port: number, count: number): Promise<Joined[]> {
  const joined: Joined[] = [];
  // One after another, so round-robin has each connection land on the next worker.
  for (let i = 0; i < count; i++) joined.push(await joinOne(port));
  return joined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Lines the workers wrote: how often each pid ran onStart and onStop. */
function hookCounts(file: string): Map<number, { start: number; stop: number }> {
  const counts = new Map<number, { start: number; stop: number }>();
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return counts;
  }
  for (const line of text.split('\n').filter((l) => l !== '')) {
    const { event, pid } = JSON.parse(line) as { event: 'start' | 'stop'; pid: number };
    const entry = counts.get(pid) ?? { start: 0, stop: 0 };
    entry[event]++;
    counts.set(pid, entry);
  }
  return counts;
}

/** A cluster whose primary is this test process; records events and log entries. */
function startCluster(options: Partial<ClusterOptions> & { env?: Record<string, string> }): {
  handle: ClusterHandle;
  events: ClusterEvent[];
  logged: LogEntry[];
} {
  const events: ClusterEvent[] = [];
  const { logger, entries } = captureLogger();
  const handle = runCluster({
    host: '127.0.0.1',
    exec: FIXTURE,
    execArgv: ['--import', 'tsx'],
    handleSignals: false,
    startTimeoutMs: 20_000,
    stopTimeoutMs: 8000,
    logger,
    onEvent: (event) => events.push(event),
    ...options,
  });
  return { handle, events, logged: entries };
}

const exitsOf = (events: ClusterEvent[]) => events.filter((e): e is Extract<ClusterEvent, { type: 'exit' }> => e.type === 'exit');
const forksOf = (events: ClusterEvent[]) => events.filter((e): e is Extract<ClusterEvent, { type: 'fork' }> => e.type === 'fork');

describe('runCluster options', () => {
  const setup = () => ({ app: {} });

  it('rejects bad options at creation with InvalidOptionError, before forking anything', () => {
    expect(() => runCluster({ setup, workers: 0 })).toThrow(new InvalidOptionError('Option "workers" must be a positive integer, got 0'));
    expect(() => runCluster({ setup, workers: 1.5 })).toThrow(/"workers" must be a positive integer, got 1.5/);
    expect(() => runCluster({ setup, port: 70_000 })).toThrow(/"port" must be an integer from 0 to 65535/);
    expect(() => runCluster({ setup, maxRestarts: -1 })).toThrow(/"maxRestarts" must be an integer >= 0/);
    expect(() => runCluster({ setup, stopTimeoutMs: 0 })).toThrow(/"stopTimeoutMs" must be an integer from 1 to 2147483647/);
    // Past Node's timer limit a delay becomes 1 ms: refused.
    expect(() => runCluster({ setup, stopTimeoutMs: 2 ** 31 })).toThrow(/"stopTimeoutMs" must be an integer from 1 to 2147483647, got 2147483648/);
    expect(() => runCluster({ workers: 2 })).toThrow(/"setup" is required unless "exec" names a worker script/);
    expect(() => runCluster({ setup, colour: 'red' } as ClusterOptions)).toThrow(/Unknown cluster option "colour"/);
    expect(() => runCluster({ setup, env: { A: 1 } } as unknown as ClusterOptions)).toThrow(/"env" must be an object of strings/);
    expect(() => runCluster({ setup, execArgv: '--inspect' } as unknown as ClusterOptions)).toThrow(/"execArgv" must be an array of strings/);
    expect(() => runCluster({ setup, handleSignals: 'yes' } as unknown as ClusterOptions)).toThrow(/"handleSignals" must be a boolean/);
    expect(() => runCluster({ setup, redis: { url: 'redis://127.0.0.1:1' }, adapter: () => ({}) as never })).toThrow(/"redis" excludes "adapter"/);
    expect(() => runCluster({ setup, redis: 'redis://x' } as unknown as ClusterOptions)).toThrow(/"redis" must be redisAdapter options/);
  });
});

describe('runCluster: 3 workers, node ids from the primary', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wsactor-cluster-'));
  const log = join(dir, 'hooks.log');
  let cluster: ReturnType<typeof startCluster>;
  let ready: ClusterReady;
  const clients: Joined[] = [];
  /** Pids of the workers that crashed on purpose (they never run onStop). */
  const crashed = new Set<number>();

  beforeAll(async () => {
    cluster = startCluster({ workers: 3, env: { FIXTURE_LOG: log }, maxRestarts: 1, restartWindowMs: 60_000 });
    ready = await cluster.handle.ready;
  }, 30_000);

  afterAll(async () => {
    for (const { client } of clients) client.ws.terminate();
    await cluster.handle.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 20_000);

  const nodeOfPid = (pid: number): number | undefined => cluster.handle.workers().find((w) => w.pid === pid)?.nodeId;

  it('starts every worker on one port, with node ids 1, 2, 3, and runs onStart once in each', () => {
    expect(ready.port).toBeGreaterThan(0);
    expect(ready.workers.map((w) => w.nodeId).sort()).toEqual([1, 2, 3]);
    expect(new Set(ready.workers.map((w) => w.pid)).size).toBe(3);
    const counts = hookCounts(log);
    expect([...counts.keys()].sort()).toEqual(ready.workers.map((w) => w.pid).sort());
    for (const count of counts.values()) expect(count).toEqual({ start: 1, stop: 0 });
  });

  it('spreads 30 clients over the workers; their ids are distinct and carry the node id of the worker serving them', async () => {
    clients.push(...(await joinMany(ready.port, 30)));
    const pids = new Set(clients.map((c) => c.pid));
    expect(pids.size).toBeGreaterThan(1);
    for (const pid of pids) expect(ready.workers.map((w) => w.pid)).toContain(pid);
    const ids = clients.map((c) => c.id);
    expect(new Set(ids).size).toBe(30);
    for (const { id, pid } of clients) {
      expect(Number.isSafeInteger(id)).toBe(true);
      expect(Math.floor(id / NODE_SHIFT)).toBe(nodeOfPid(pid));
    }
  });

  it('replaces a crashed worker with one with a new node id; new client ids do not collide with old ones', async () => {
    const victim = clients[0] as Joined;
    const oldIds = new Set(clients.map((c) => c.id));
    crashed.add(victim.pid);
    victim.client.ws.send('crash');
    expect((await closed(victim.client)).code).toBe(1006);
    await waitFor(() => cluster.events.some((e) => e.type === 'ready' && e.worker.nodeId === 4), 15_000, 'the replacement to start');
    const exit = exitsOf(cluster.events).find((e) => e.worker.pid === victim.pid);
    expect(exit).toMatchObject({ code: 7, crashed: true, respawned: true });
    expect(cluster.logged.some((l) => l.level === 'warn' && l.message.includes(`Worker ${victim.pid} (node ${nodeOfPidBefore(victim)}) crashed (code 7); forking a replacement`))).toBe(true);
    expect(cluster.handle.workers().map((w) => w.nodeId).sort()).toEqual([1, 2, 3, 4].filter((n) => n !== nodeOfPidBefore(victim)));

    // Round-robin reaches the new worker within a few connections.
    const fresh: Joined[] = [];
    while (!fresh.some((c) => Math.floor(c.id / NODE_SHIFT) === 4)) {
      expect(fresh.length).toBeLessThan(12);
      fresh.push(await joinOne(ready.port));
    }
    clients.push(...fresh);
    for (const { id } of fresh) expect(oldIds.has(id)).toBe(false);
    expect(new Set(clients.map((c) => c.id)).size).toBe(clients.length);
  });

  it('stops replacing crashed workers past maxRestarts, and reports it', async () => {
    const victim = clients.find((c) => c.pid !== clients[0]?.pid && !crashed.has(c.pid)) as Joined;
    crashed.add(victim.pid);
    victim.client.ws.send('crash');
    await closed(victim.client);
    await waitFor(() => cluster.events.some((e) => e.type === 'gave-up'), 10_000, 'gave-up');
    expect(exitsOf(cluster.events).find((e) => e.worker.pid === victim.pid)).toMatchObject({ crashed: true, respawned: false });
    expect(cluster.events.find((e) => e.type === 'gave-up')).toEqual({ type: 'gave-up', crashes: 2, windowMs: 60_000 });
    expect(cluster.logged.some((l) => l.level === 'error' && /2 crashes within 60000 ms, over maxRestarts 1: crashed workers are no longer replaced/.test(l.message))).toBe(true);
    expect(cluster.handle.workers()).toHaveLength(2);
    expect(forksOf(cluster.events)).toHaveLength(4);
  });

  it('a worker that gets SIGTERM itself stops gracefully: its clients get 1001, it exits 0 and is not replaced', async () => {
    const [target] = cluster.handle.workers();
    if (target === undefined) throw new Error('no worker left');
    const mine = clients.filter((c) => c.pid === target.pid);
    expect(mine.length).toBeGreaterThan(0);
    process.kill(target.pid, 'SIGTERM');
    for (const { client } of mine) expect(await closed(client)).toEqual({ code: 1001, reason: 'Server shutting down' });
    await waitFor(() => exitsOf(cluster.events).some((e) => e.worker.pid === target.pid), 10_000, 'the worker to exit');
    expect(exitsOf(cluster.events).find((e) => e.worker.pid === target.pid)).toMatchObject({ code: 0, signal: null, crashed: false, respawned: false });
    expect(hookCounts(log).get(target.pid)).toEqual({ start: 1, stop: 1 });
    expect(cluster.handle.workers()).toHaveLength(1);
  });

  it('stop() closes every client with 1001, every worker exits, and onStop ran once per worker that was not killed', async () => {
    const open = clients.filter((c) => c.client.ws.readyState === c.client.ws.OPEN);
    expect(open.length).toBeGreaterThan(0);
    const closes = open.map(({ client }) => closed(client));
    await cluster.handle.stop();
    for (const close of await Promise.all(closes)) expect(close).toEqual({ code: 1001, reason: 'Server shutting down' });
    await cluster.handle.closed;
    expect(cluster.handle.workers()).toEqual([]);
    const forked = forksOf(cluster.events).map((e) => e.worker.pid);
    expect(exitsOf(cluster.events).map((e) => e.worker.pid).sort()).toEqual([...forked].sort());
    for (const pid of forked) expect(alive(pid)).toBe(false);
    const counts = hookCounts(log);
    for (const pid of forked) expect(counts.get(pid)).toEqual({ start: 1, stop: crashed.has(pid) ? 0 : 1 });
  });

  /** The node id a client's worker had (from its client id; the worker may be gone). */
  function nodeOfPidBefore(joined: Joined): number {
    return Math.floor(joined.id / NODE_SHIFT);
  }
});

describe('runCluster with redis: one Endpoint across 3 workers', () => {
  let redis: TestRedis;
  let cluster: ReturnType<typeof startCluster>;
  let ready: ClusterReady;
  let clients: Joined[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    const url = redis.url;
    cluster = startCluster({ workers: 3, redis: { url, prefix: 'cluster-test' }, env: { FIXTURE_REDIS_URL: url, FIXTURE_REDIS_PREFIX: 'cluster-test' } });
    ready = await cluster.handle.ready;
    clients = await joinMany(ready.port, 12);
  }, 30_000);

  afterAll(async () => {
    for (const { client } of clients) client.ws.terminate();
    await cluster.handle.stop();
    await redis.stop();
  }, 20_000);

  /** The JSON reply to a command, skipping broadcasts and other plain texts in between. */
  async function command(from: Joined, text: string): Promise<Record<string, unknown>> {
    from.client.ws.send(text);
    for (;;) {
      const body = (await from.client.nextMessage(5000)).data.toString('utf8');
      if (body.startsWith('{"reply"')) return JSON.parse(body) as Record<string, unknown>;
    }
  }

  const texts = (joined: Joined): string[] => joined.client.messages.map((m) => m.data.toString('utf8'));

  it('Redis assigns distinct node ids; client ids carry them', () => {
    const nodeIds = ready.workers.map((w) => w.nodeId);
    expect(new Set(nodeIds).size).toBe(3);
    for (const { id, pid } of clients) expect(Math.floor(id / NODE_SHIFT)).toBe(ready.workers.find((w) => w.pid === pid)?.nodeId);
    expect(new Set(clients.map((c) => c.pid)).size).toBeGreaterThan(1);
    expect(new Set(clients.map((c) => c.id)).size).toBe(12);
  });

  it('a broadcast from one worker reaches every client on every worker exactly once', async () => {
    const sender = clients[0] as Joined;
    expect(await command(sender, 'broadcast hello everyone')).toEqual({ reply: 'broadcast', sent: 12, failed: 0, unreached: 0 });
    await waitFor(() => clients.every((c) => texts(c).includes('hello everyone')), 5000, 'every client to get the broadcast');
    await new Promise((resolve) => setTimeout(resolve, 200)); // room for a duplicate to show up
    for (const joined of clients) expect(texts(joined).filter((t) => t === 'hello everyone')).toHaveLength(1);
  });

  it('sends to a client on another worker by id', async () => {
    const sender = clients[0] as Joined;
    const target = clients.find((c) => c.pid !== sender.pid) as Joined;
    expect(await command(sender, `send ${target.id} across workers`)).toEqual({ reply: 'send', ok: true, error: null });
    await waitFor(() => texts(target).includes('across workers'), 5000, 'the target to get the message');
    const gone = Math.floor(target.id / NODE_SHIFT) * NODE_SHIFT + 999_999;
    expect(await command(sender, `send ${gone} nobody`)).toEqual({ reply: 'send', ok: false, error: ErrorCodes.UNKNOWN_CLIENT });
  });

  it('getClients() lists the clients of every worker', async () => {
    const reply = await command(clients[1] as Joined, 'clients');
    expect((reply.ids as number[]).sort((a, b) => a - b)).toEqual(clients.map((c) => c.id).sort((a, b) => a - b));
  });

  it('stop() closes every client with 1001 and every worker exits', async () => {
    const closes = clients.map(({ client }) => closed(client));
    await cluster.handle.stop();
    for (const close of await Promise.all(closes)) expect(close).toEqual({ code: 1001, reason: 'Server shutting down' });
    for (const { pid } of ready.workers) expect(alive(pid)).toBe(false);
  });
});

describe('runCluster: start failures', () => {
  it('a worker whose setup throws makes ready reject with WSA_ERR_CLUSTER, and the other workers are stopped', async () => {
    const { handle, events } = startCluster({ workers: 2, env: { FIXTURE_FAIL_NODE: '2' } });
    const error = await handle.ready.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ClusterError);
    expect(error).toMatchObject({ code: ErrorCodes.CLUSTER });
    expect((error as Error).message).toMatch(/^Worker \d+ \(node 2\) failed to start: setup failed on purpose$/);
    // Rejected only after every worker exited.
    expect(exitsOf(events)).toHaveLength(2);
    for (const { worker } of forksOf(events)) expect(alive(worker.pid)).toBe(false);
    expect(handle.workers()).toEqual([]);
    await handle.closed;
  });

  it('a port in use makes ready reject with WSA_ERR_CLUSTER naming EADDRINUSE', async () => {
    const blocker: NetServer = createNetServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    if (address === null || typeof address !== 'object') throw new Error('no address');
    try {
      const { handle, events } = startCluster({ workers: 2, port: address.port });
      const error = await handle.ready.then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toMatchObject({ code: ErrorCodes.CLUSTER });
      expect((error as Error).message).toMatch(/failed to start: .*EADDRINUSE/);
      expect(exitsOf(events)).toHaveLength(2);
    } finally {
      blocker.close();
    }
  });

  it('stop() kills a worker that does not stop within stopTimeoutMs, and says so', async () => {
    const { handle, events, logged } = startCluster({ workers: 1, stopTimeoutMs: 1000, env: { FIXTURE_HANG_STOP: '1' } });
    const { port, workers } = await handle.ready;
    const { client } = await joinOne(port);
    const started = Date.now();
    await handle.stop();
    expect(Date.now() - started).toBeLessThan(5000);
    expect(exitsOf(events)).toMatchObject([{ signal: 'SIGKILL', crashed: false, respawned: false }]);
    expect(logged.map((l) => l.message)).toContain(`Worker ${workers[0]?.pid} (node 1) did not stop within 1000 ms; killing it`);
    expect((await closed(client)).code).toBe(1006); // onStop never settled, so no 1001 was sent
  });
});

describe('runCluster: signals to the primary', () => {
  const cases = [
    { name: 'SIGTERM to the primary', signal: 'SIGTERM', group: false },
    { name: 'SIGINT to the whole process group (Ctrl-C in a terminal)', signal: 'SIGINT', group: true },
  ] as const;

  it.each(cases)('$name stops every worker once (clients get 1001, onStop once), then the primary exits by that signal', async ({ signal, group }) => {
    const dir = mkdtempSync(join(tmpdir(), 'wsactor-cluster-'));
    const log = join(dir, 'hooks.log');
    const primary = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
      env: { ...process.env, FIXTURE_WORKERS: '2', FIXTURE_LOG: log },
      stdio: ['ignore', 'pipe', 'inherit'],
      detached: group, // its own process group, as a shell gives a foreground job
    });
    const pid = primary.pid ?? 0;
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      primary.once('exit', (code, exitSignal) => resolve({ code, signal: exitSignal })),
    );
    try {
      const ready = await new Promise<ClusterReady>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`no ready line within 20 s: ${out}`)), 20_000);
        primary.once('exit', () => reject(new Error(`the primary exited before it was ready: ${out}`)));
        primary.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString('utf8');
          const line = out.split('\n').find((l) => l.startsWith('{'));
          if (line === undefined) return;
          clearTimeout(timer);
          const parsed = JSON.parse(line) as { ready?: ClusterReady; error?: string };
          if (parsed.ready === undefined) reject(new Error(parsed.error));
          else resolve(parsed.ready);
        });
      });
      expect(ready.workers).toHaveLength(2);
      const joined = await joinMany(ready.port, 6);
      expect(new Set(joined.map((c) => c.pid)).size).toBe(2);
      const closes = joined.map(({ client }) => closed(client));
      process.kill(group ? -pid : pid, signal);
      for (const close of await Promise.all(closes)) expect(close).toEqual({ code: 1001, reason: 'Server shutting down' });
      // The primary re-raises the signal once its workers are gone.
      expect(await exited).toEqual({ code: null, signal });
      for (const worker of ready.workers) expect(alive(worker.pid)).toBe(false);
      const counts = hookCounts(log);
      for (const worker of ready.workers) expect(counts.get(worker.pid)).toEqual({ start: 1, stop: 1 });
    } finally {
      if (alive(pid)) process.kill(pid, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
