/**
 * Typed request/reply over the Node IPC channel between bench/run.ts and its child
 * processes. A child prints one JSON line (`{"ready":true,...}`) on stdout when it is ready,
 * then answers `{id, cmd, args}` with `{id, ok, result}` or `{id, ok:false, error}`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** A command table: name -> request arguments and reply type. */
export type Commands = Record<string, { req: unknown; res: unknown }>;

type Handlers<C extends Commands> = { [K in keyof C]: (args: C[K]['req']) => C[K]['res'] | Promise<C[K]['res']> };
interface Wire {
  id: number;
  cmd: string;
  args: unknown;
}
type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

/** Child side: announces readiness with `ready` (merged into the JSON line) and serves `handlers`. */
export function serve<C extends Commands>(handlers: Handlers<C>, ready: Record<string, unknown> = {}): void {
  const table = handlers as Record<string, (args: unknown) => unknown>;
  process.on('message', (raw: unknown) => {
    const { id, cmd, args } = raw as Wire;
    const reply = (message: Reply): void => {
      process.send?.(message);
    };
    Promise.resolve()
      .then(() => {
        const handler = table[cmd];
        if (handler === undefined) throw new Error(`unknown command ${cmd}`);
        return handler(args);
      })
      .then(
        (result) => reply({ id, ok: true, result: result ?? null }),
        (error: unknown) => reply({ id, ok: false, error: error instanceof Error ? error.message : String(error) }),
      );
  });
  // The parent went away (or asked us to stop): exit normally so --cpu-prof gets written.
  process.on('disconnect', () => process.exit(0));
  process.stdout.write(`${JSON.stringify({ ready: true, ...ready })}\n`);
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export interface SpawnOptions {
  /** Extra node flags, e.g. --expose-gc or --cpu-prof. */
  nodeFlags?: string[];
  /** Milliseconds to wait for the ready line. */
  readyTimeoutMs?: number;
}

/** Parent side of one child process. */
export class Proc<C extends Commands> {
  readonly name: string;
  /** The child's ready line (servers put their `port` there). */
  readonly info: Record<string, unknown>;
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly #exited: Promise<void>;
  #nextId = 1;

  private constructor(name: string, child: ChildProcess, info: Record<string, unknown>) {
    this.name = name;
    this.#child = child;
    this.info = info;
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.on('message', (raw: unknown) => {
      const reply = raw as Reply;
      const waiter = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      if (reply.ok) waiter?.resolve(reply.result);
      else waiter?.reject(new Error(`${this.name}: ${reply.error}`));
    });
    child.once('exit', (code, signal) => {
      live.delete(child);
      const error = new Error(`${name} exited (${String(code ?? signal)})`);
      for (const waiter of this.#pending.values()) waiter.reject(error);
      this.#pending.clear();
    });
  }

  /** Forks `file` (compiled JavaScript, see build.ts) and waits for its ready line. */
  static async spawn<C extends Commands>(name: string, file: string, args: string[] = [], options: SpawnOptions = {}): Promise<Proc<C>> {
    const child = fork(file, args, {
      execArgv: options.nodeFlags ?? [],
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    });
    live.add(child);
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const info = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name}: no ready line`)), options.readyTimeoutMs ?? 30_000);
      child.once('exit', (code) => reject(new Error(`${name} exited before ready (${String(code)})`)));
      // The ready line is the first JSON object; anything before it (e.g. V8 traces) is passed on.
      const onLine = (line: string): void => {
        if (!line.startsWith('{')) {
          process.stderr.write(`[${name}] ${line}\n`);
          return;
        }
        lines.off('line', onLine);
        clearTimeout(timer);
        lines.on('line', (more) => process.stderr.write(`[${name}] ${more}\n`));
        resolve(JSON.parse(line) as Record<string, unknown>);
      };
      lines.on('line', onLine);
    });
    return new Proc<C>(name, child, info);
  }

  /** Sends one command; rejects on error reply, child exit or timeout. */
  request<K extends keyof C & string>(cmd: K, args: C[K]['req'], timeoutMs = 120_000): Promise<C[K]['res']> {
    const id = this.#nextId++;
    return new Promise<C[K]['res']>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${this.name}: ${cmd} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.#child.send({ id, cmd, args } satisfies Wire);
    });
  }

  /** Asks the child to exit (IPC disconnect), then kills it if it lingers. */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    if (this.#child.connected) this.#child.disconnect();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 10_000);
    await this.#exited;
    clearTimeout(timer);
  }
}
