/**
 * Reconnect storm: at a moment shared with the other storm processes, creates all its clients
 * in one go (no pacing, no limit on connects in flight) and reports when each one opened.
 * The clients then stay open, idle, until the process is stopped.
 */
import { WebSocket } from 'ws';
import { encode, newHistogram, recordMs } from '../lib/hist.js';
import { serve } from '../lib/ipc.js';
import { clientOptions, nowMs, sleep, type StormCommands, type StormJob, type StormResult } from '../lib/protocol.js';

let job: StormJob | null = null;
/** Kept so the open clients are not collected before the process stops. */
const sockets: WebSocket[] = [];

/** Sleeps to just before `atMs`, then spins: a timer alone can be a few ms late. */
async function waitUntil(atMs: number): Promise<void> {
  const ahead = atMs - nowMs() - 20;
  if (ahead > 0) await sleep(ahead);
  while (nowMs() < atMs);
}

async function storm({ port, count, addresses }: StormJob, atMs: number, timeoutMs: number): Promise<StormResult> {
  await waitUntil(atMs);
  const cpu = process.cpuUsage();
  const firstMs = nowMs();
  const hist = newHistogram();
  const reasons: Record<string, number> = {};
  const result = { opened: 0, failed: 0, dropped: 0, lastOpenMs: 0 };
  const fail = (reason: string): void => {
    result.failed++;
    reasons[reason] = (reasons[reason] ?? 0) + 1;
  };
  let pending = count;
  let createMs = 0;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      // Never silently dropped: whatever has not opened by now is a failure.
      for (const ws of sockets) {
        if (ws.readyState === WebSocket.CONNECTING) {
          ws.removeAllListeners('close');
          ws.on('error', () => undefined);
          ws.terminate();
          fail(`no open within ${timeoutMs} ms`);
        }
      }
      resolve();
    }, timeoutMs);
    const settled = (): void => {
      if (--pending > 0) return;
      clearTimeout(timer);
      resolve();
    };
    for (let i = 0; i < count; i++) {
      const started = nowMs();
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`, clientOptions(addresses[i % addresses.length]));
      sockets.push(ws);
      let opened = false;
      let error = 'closed before open';
      ws.once('open', () => {
        const now = nowMs();
        opened = true;
        recordMs(hist, now - started);
        result.opened++;
        result.lastOpenMs = Math.max(result.lastOpenMs, now);
        settled();
      });
      // ws emits 'close' after every 'error'; the error only names the reason.
      ws.on('error', (e: Error) => void (error = e.message));
      ws.once('close', () => {
        if (opened) result.dropped++;
        else {
          fail(error);
          settled();
        }
      });
    }
    createMs = nowMs() - firstMs;
    if (count === 0) {
      clearTimeout(timer);
      resolve();
    }
  });
  const used = process.cpuUsage(cpu);
  return { ...result, reasons, lateMs: firstMs - atMs, createMs, cpuMs: (used.user + used.system) / 1000, hist: encode(hist) };
}

serve<StormCommands>({
  prepare: (j) => {
    job = j;
    return null;
  },
  go: ({ atMs, timeoutMs }) => {
    if (job === null) throw new Error('go before prepare');
    if (sockets.length > 0) throw new Error('one storm per process');
    return storm(job, atMs, timeoutMs);
  },
});
