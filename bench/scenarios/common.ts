/** Shared by the scenarios: starting servers and load processes, round order, progress. */
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { jsFile } from '../lib/build.js';
import type { Config } from '../lib/config.js';
import { Proc, type Commands } from '../lib/ipc.js';
import { sleep, type ServerCommands, type ServerKind, type ServerStats } from '../lib/protocol.js';
import type { Results } from '../lib/report.js';

const benchDir = fileURLToPath(new URL('..', import.meta.url));
const SERVER_FILES: Record<ServerKind, string> = { raw: 'raw-ws', wsactor: 'wsactor', tcp: 'tcp-echo', floor: 'raw-ws-actor' };
export const KIND_LABEL: Record<ServerKind, string> = { raw: 'raw ws', wsactor: 'wsactor', tcp: 'tcp', floor: 'ws+actor' };

export interface Context {
  config: Config;
  results: Results;
  log(line: string): void;
}

export type Server = Proc<ServerCommands> & { port: number };

/** A path in bench/results/raw/ (git ignores it), for profiles and snapshots. */
export function rawResultFile(name: string): string {
  mkdirSync(`${benchDir}results/raw`, { recursive: true });
  return `${benchDir}results/raw/${name}`;
}

/**
 * Starts one server process; its port comes from its ready line. `file` (in bench/servers/)
 * picks another server of that kind than the echo one, e.g. `wsactor-machine`.
 */
export async function startServer(ctx: Context, kind: ServerKind, tag: string, file = SERVER_FILES[kind]): Promise<Server> {
  const flags = ['--expose-gc'];
  // Extra node/V8 flags for the servers only, for a closer look (e.g. --log-deopt --logfile=...).
  const extra = process.env.BENCH_SERVER_FLAGS?.replaceAll('{kind}', kind);
  if (extra) flags.push(...extra.split(' ').filter(Boolean));
  if (ctx.config.cpuProf) {
    flags.push('--cpu-prof', `--cpu-prof-dir=${rawResultFile(`${kind}-${tag}-${Date.now()}`)}`);
  }
  const proc = await Proc.spawn<ServerCommands>(`${kind} server`, jsFile(`servers/${file}`), [], { nodeFlags: flags });
  const port = proc.info.port;
  if (typeof port !== 'number' || port <= 0) throw new Error(`${kind} server reported no port`);
  return Object.assign(proc, { port });
}

/** Starts `count` load processes running bench/load/`file`. */
export function startLoad<C extends Commands>(file: string, count: number): Promise<Proc<C>[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => Proc.spawn<C>(`${file}#${i}`, jsFile(`load/${file}`))));
}

/** Alternating order: A B in odd rounds, B A in even ones (extra kinds keep their place last). */
export function roundOrder<K extends ServerKind>(round: number, kinds: readonly K[]): K[] {
  if (round % 2 === 1 || kinds.length < 2) return [...kinds];
  const [a, b, ...rest] = kinds as [K, K, ...K[]];
  return [b, a, ...rest];
}

/** Splits `total` into `parts` near-equal shares. */
export function share(total: number, parts: number, index: number): number {
  return Math.floor(total / parts) + (index < total % parts ? 1 : 0);
}

export async function stopAll(procs: readonly { stop(): Promise<void> }[]): Promise<void> {
  await Promise.all(procs.map((p) => p.stop()));
}

/** The kernel's part of a server's CPU time, as a percentage. */
export function kernelShare(stats: ServerStats): string {
  return `${Math.round((100 * stats.sysMs) / stats.cpuMs)}%`;
}

/** Waits (up to 30 s) until the server counts `n` open connections. */
export async function waitForClients(server: Server, n: number): Promise<void> {
  for (let tries = 0; tries < 300; tries++) {
    if ((await server.request('clients', null)) >= n) return;
    await sleep(100);
  }
  throw new Error(`server never saw ${n} open connections`);
}
