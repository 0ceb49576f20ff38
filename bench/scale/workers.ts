/** The primary's side of the bench-only IPC with cluster workers, and their RSS from /proc. */
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { isWorkerMessage, type WorkerCommand, type WorkerCommands, type WorkerReply, type WorkerRequest } from './protocol.js';

let nextId = 1;

/** Sends `cmd` to cluster worker `workerId` (this process is the cluster primary) and waits for the answer. */
export function askWorker<K extends WorkerCommand>(workerId: number, cmd: K, timeoutMs = 60_000, arg?: WorkerCommands[K]['req']): Promise<WorkerCommands[K]['res']> {
  const worker = cluster.workers?.[workerId];
  if (worker === undefined) return Promise.reject(new Error(`no cluster worker ${workerId}`));
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      worker.off('message', onMessage);
    };
    const onMessage = (raw: unknown): void => {
      if (!isWorkerMessage<WorkerReply>(raw) || raw.id !== id) return;
      done();
      if (raw.error !== undefined) reject(new Error(`worker ${workerId}: ${cmd}: ${raw.error}`));
      else resolve(raw.result as WorkerCommands[K]['res']);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`worker ${workerId}: ${cmd} got no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    worker.on('message', onMessage);
    worker.send({ tag: 'scale-bench', id, cmd, ...(arg === undefined ? {} : { arg }) } satisfies WorkerRequest);
  });
}

/** Resident set size in bytes (VmRSS of /proc/<pid>/status). */
export function rssOf(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (match === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}
