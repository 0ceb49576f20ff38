/**
 * Loads the app module of the `wsactor` command and finds its app: the default export is
 * the app (an object with Websocket hooks), a class (instantiated), or a function returning
 * the app (awaited); an exported `options` object gives server options.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ServerOptions } from '../options.js';
import type { Websocket } from '../types.js';
import { UsageError } from './args.js';

const HOOKS = ['onStart', 'onHandshake', 'onOpen', 'onData', 'onClose', 'onStop'] as const;

/** What the factory of a module learns about the process it runs in. */
export interface AppContext {
  /** `cluster.worker.id` in cluster mode (1, 2, ...), 0 without --workers. */
  readonly workerId: number;
  /** The node id the cluster primary handed out, or null (no cluster, or the adapter assigns it). */
  readonly nodeId: number | null;
}

/** A loaded app module: how to make its app, and its options. */
export interface AppModule {
  /** The path as given, for messages. */
  readonly name: string;
  readonly options: ServerOptions;
  /** Makes (or returns) the app; throws UsageError when the factory returns no app. */
  makeApp(context: AppContext): Promise<Websocket<unknown>>;
}

/** An object with at least one hook function, or a clientMachine. */
export function isApp(value: unknown): value is Websocket<unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const record = value as Record<string, unknown>;
  return HOOKS.some((hook) => typeof record[hook] === 'function') || (typeof record.clientMachine === 'object' && record.clientMachine !== null);
}

function isClass(fn: (...args: never[]) => unknown): boolean {
  if (/^class[\s{]/.test(Function.prototype.toString.call(fn))) return true;
  // A constructor function of the old style: its prototype carries the hooks.
  const proto = fn.prototype as Record<string, unknown> | undefined;
  return typeof proto === 'object' && proto !== null && HOOKS.some((hook) => typeof proto[hook] === 'function');
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
}

const describeValue = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object without Websocket hooks' : typeof value;

/** Imports `spec` (a path, relative to `cwd`); throws UsageError when it cannot be loaded or exports no app. */
export async function loadAppModule(spec: string, cwd = process.cwd()): Promise<AppModule> {
  const file = resolve(cwd, spec);
  if (!existsSync(file)) throw new UsageError(`App module not found: ${spec}`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (code === 'ERR_UNKNOWN_FILE_EXTENSION' && /\.[cm]?tsx?$/.test(file)) {
      throw new UsageError(`Cannot load ${spec}: TypeScript needs a loader, e.g. node --import tsx ./node_modules/.bin/wsactor ${spec}`);
    }
    throw new UsageError(`Cannot load ${spec}: ${firstLine(error)}`);
  }
  const exported = mod.default;
  const options = mod.options ?? {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new UsageError(`${spec} exports "options" that is not an object (createServer options expected)`);
  }
  if (exported === undefined) {
    throw new UsageError(`${spec} has no default export: export the app (an object with Websocket hooks), its class, or a function returning it`);
  }
  let makeApp: AppModule['makeApp'];
  if (typeof exported === 'function') {
    const fn = exported as (...args: never[]) => unknown;
    if (isClass(fn)) {
      makeApp = () => {
        const app: unknown = new (fn as unknown as new () => unknown)();
        if (!isApp(app)) throw new UsageError(`${spec}: an instance of its default export class has no Websocket hooks (onStart, onOpen, onData, ...)`);
        return Promise.resolve(app);
      };
    } else {
      makeApp = async (context) => {
        const app: unknown = await (fn as (context: AppContext) => unknown)(context);
        if (!isApp(app)) throw new UsageError(`${spec}: its default export function returned ${describeValue(app)}, not an app with Websocket hooks`);
        return app;
      };
    }
  } else if (isApp(exported)) {
    makeApp = () => Promise.resolve(exported);
  } else {
    throw new UsageError(`${spec}: its default export is ${describeValue(exported)}, not an app (an object with Websocket hooks, its class, or a function returning it)`);
  }
  return { name: spec, options, makeApp };
}
