/**
 * The part every bench server shares: prints `{"ready":true,"port":N}` and answers the
 * orchestrator's IPC commands (memory after GC, event-loop delay, CPU, client count, broadcast,
 * heap snapshot).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';
import { serve } from '../lib/ipc.js';
import { broadcastPayload, nowMs, type ServerCommands } from '../lib/protocol.js';

export interface ServerHooks {
  port: number;
  clients(): number;
  /** Sends one text message to every open client; resolves when the server considers it sent. */
  broadcast(data: string): Promise<unknown>;
  /**
   * Sample the event-loop delay (default true). Its 1 ms timer wakes an idle server 1,000
   * times a second: off where server CPU over mostly idle windows is measured (`stats` then
   * reports 0 delays).
   */
  eventLoopDelay?: boolean;
}

const gc = (globalThis as { gc?: () => void }).gc;
/** How long memory is left to settle after the first GCs (see `mem`). */
const SETTLE_MS = 1000;

export function serveControl(hooks: ServerHooks): void {
  const eld = monitorEventLoopDelay({ resolution: 1 });
  if (hooks.eventLoopDelay !== false) eld.enable();
  let cpu = process.cpuUsage();

  serve<ServerCommands>(
    {
      mem: async () => {
        if (gc === undefined) throw new Error('run the server with --expose-gc');
        gc();
        await yieldToLoop();
        gc();
        // V8 hands the pages a GC freed back to the OS from background tasks, after the GC:
        // read right away, RSS still holds them (up to 3-5 KiB per connection more after a
        // connect storm, varying run to run). Measure at rest, the same for every server.
        await sleep(SETTLE_MS);
        gc();
        const { rss, heapUsed, heapTotal, external } = process.memoryUsage();
        const spaces = getHeapSpaceStatistics();
        const newSpace = spaces.find((s) => s.space_name === 'new_space')?.space_size ?? 0;
        if (process.env.BENCH_SPACES) console.error(JSON.stringify({ rss, heapUsed, heapTotal, external, spaces: spaces.map((s) => [s.space_name, s.physical_space_size >> 10, s.space_used_size >> 10]) }));
        return { rss, heapUsed, heapTotal, newSpace, external };
      },
      reset: () => {
        eld.reset();
        cpu = process.cpuUsage();
        return null;
      },
      stats: () => {
        const used = process.cpuUsage(cpu);
        const ms = (ns: number): number => ns / 1e6;
        return {
          eldP50Ms: ms(eld.percentile(50)),
          eldP99Ms: ms(eld.percentile(99)),
          eldMaxMs: ms(eld.max),
          cpuMs: (used.user + used.system) / 1000,
          sysMs: used.system / 1000,
        };
      },
      clients: () => hooks.clients(),
      heapSnapshot: ({ file }) => writeHeapSnapshot(file),
      broadcast: async ({ count, size, firstSeq }) => {
        const startMs = nowMs();
        const pending: Promise<unknown>[] = [];
        let loopMs = 0;
        for (let i = 0; i < count; i++) {
          const before = nowMs();
          pending.push(hooks.broadcast(broadcastPayload(firstSeq + i, size)));
          loopMs += nowMs() - before;
          if (i < count - 1) await yieldToLoop();
        }
        await Promise.all(pending);
        return { startMs, sent: hooks.clients(), loopMs };
      },
    },
    { port: hooks.port },
  );
}
