/**
 * What attaching observability costs: an echo round-trip loop (1 client, sequential
 * request/response) against the echo example, once on a bare server and once with
 * `createMetrics` + `createLiveView` attached (and a live-view page following the event
 * stream). Each server runs in its own process; runs alternate and the medians are reported:
 * round trips per second (wall clock, sensitive to machine load) and the server process's CPU
 * time per round trip (user + system, much less sensitive to load).
 *
 * Run: npx tsx bench/observe-cost.ts [--messages 20000] [--rounds 3]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { get } from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { EchoApp } from '../examples/echo.js';
import { createLiveView, createMetrics, createServer } from '../src/index.js';

type Mode = 'bare' | 'observed';

/**
 * Child: starts the echo server (observed or not), prints its ports as JSON, then answers each
 * line on stdin with its CPU time so far (µs); exits when stdin closes.
 */
async function serve(mode: Mode): Promise<void> {
  const server = createServer(new EchoApp(), { host: '127.0.0.1', port: 0 });
  let viewPort = 0;
  if (mode === 'observed') {
    createMetrics(server);
    const view = createLiveView(server);
    viewPort = Number(new URL((await view.listen({ port: 0 })).url).port);
  }
  await server.start();
  console.log(JSON.stringify({ port: server.address()?.port, viewPort }));
  const input = createInterface({ input: process.stdin });
  input.on('line', () => {
    const { user, system } = process.cpuUsage();
    console.log(String(user + system));
  });
  input.on('close', () => process.exit(0));
}

type Child = { child: ChildProcess; port: number; viewPort: number; cpu: () => Promise<number> };

async function startChild(mode: Mode): Promise<Child> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve', mode], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const [line] = (await once(lines, 'line')) as [string];
  const { port, viewPort } = JSON.parse(line) as { port: number; viewPort: number };
  const cpu = async (): Promise<number> => {
    child.stdin?.write('cpu\n');
    const [answer] = (await once(lines, 'line')) as [string];
    return Number(answer);
  };
  return { child, port, viewPort, cpu };
}

interface Result {
  /** Round trips per second. */
  readonly rate: number;
  /** Server CPU time per round trip, µs. */
  readonly cpuUs: number;
}

/** Sends `count` messages one at a time, each after the previous echo. */
async function echoLoop({ port, cpu }: Child, count: number): Promise<Result> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}`);
  await once(ws, 'open');
  const payload = 'x'.repeat(64);
  const run = (n: number): Promise<void> =>
    new Promise((resolve) => {
      let left = n;
      ws.on('message', function onMessage() {
        if (--left === 0) {
          ws.off('message', onMessage);
          resolve();
        } else ws.send(payload);
      });
      ws.send(payload);
    });
  await run(2000); // warm-up
  const cpuBefore = await cpu();
  const started = performance.now();
  await run(count);
  const rate = count / ((performance.now() - started) / 1000);
  const cpuUs = ((await cpu()) - cpuBefore) / count;
  ws.close();
  await once(ws, 'close');
  return { rate, cpuUs };
}

async function measure(mode: Mode, count: number): Promise<Result> {
  const server = await startChild(mode);
  // A browser tab on the live view: one event stream open during the run.
  const stream = server.viewPort === 0 ? null : get(`http://127.0.0.1:${server.viewPort}/_wsactor/events`, (res) => res.resume());
  try {
    return await echoLoop(server, count);
  } finally {
    stream?.destroy();
    server.child.stdin?.end();
    await once(server.child, 'exit');
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { serve: { type: 'string' }, messages: { type: 'string', default: '20000' }, rounds: { type: 'string', default: '3' } },
  });
  if (values.serve !== undefined) return serve(values.serve === 'observed' ? 'observed' : 'bare');
  const count = Number(values.messages);
  const results: Record<Mode, Result[]> = { bare: [], observed: [] };
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const mode of round % 2 === 0 ? (['bare', 'observed'] as const) : (['observed', 'bare'] as const)) {
      const result = await measure(mode, count);
      results[mode].push(result);
      console.log(`round ${round + 1} ${mode.padEnd(8)} ${Math.round(result.rate)} round trips/s, server CPU ${result.cpuUs.toFixed(1)} µs/round trip`);
    }
  }
  const summary = (mode: Mode) => ({
    rate: median(results[mode].map((r) => r.rate)),
    cpuUs: median(results[mode].map((r) => r.cpuUs)),
  });
  const bare = summary('bare');
  const observed = summary('observed');
  const pct = (a: number, b: number): string => `${b >= a ? '+' : ''}${(((b - a) / a) * 100).toFixed(1)}%`;
  console.log(`median bare:     ${Math.round(bare.rate)} round trips/s, ${bare.cpuUs.toFixed(1)} µs server CPU each`);
  console.log(`median observed: ${Math.round(observed.rate)} round trips/s (${pct(bare.rate, observed.rate)}), ${observed.cpuUs.toFixed(1)} µs server CPU each (${pct(bare.cpuUs, observed.cpuUs)})`);
}

await main();
