/** A load process's measurement window: counts, errors, round trips, its own CPU. */
import { performance } from 'node:perf_hooks';
import { encode, newHistogram, recordMs } from '../lib/hist.js';
import type { Sample } from '../lib/protocol.js';

export class Window {
  count = 0;
  errors = 0;
  #histogram = newHistogram();
  #startedAt = performance.now();
  #cpu = process.cpuUsage();

  /** One completed operation that took `ms`. */
  record(ms: number): void {
    recordMs(this.#histogram, ms);
    this.count++;
  }

  /** Returns what happened since the previous take and starts a new window. */
  take(): Sample {
    const now = performance.now();
    const cpu = process.cpuUsage(this.#cpu);
    const { count, errors } = this;
    const sample = { count, errors, elapsedMs: now - this.#startedAt, cpuMs: (cpu.user + cpu.system) / 1000, hist: encode(this.#histogram) };
    this.count = 0;
    this.errors = 0;
    this.#histogram = newHistogram();
    this.#startedAt = now;
    this.#cpu = process.cpuUsage();
    return sample;
  }
}
