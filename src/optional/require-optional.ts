/**
 * Optional peer dependencies, loaded at first use. `ioredis` (the Redis adapter) and
 * `prom-client` (metrics) are optional peers of wsactor: an app that uses neither needs neither
 * installed, and `import 'wsactor'` loads neither. Both are CommonJS, so a plain `require`
 * (through `createRequire`) loads them synchronously when a feature first needs them; a
 * missing one throws {@link MissingDependencyError} naming the package and its install command.
 */
import { createRequire } from 'node:module';
import { MissingDependencyError } from '../errors.js';

/** The optional peers and the major version wsactor supports (package.json `peerDependencies` agree; a test checks). */
export const OPTIONAL_PEERS = { ioredis: 5, 'prom-client': 15 } as const;
export type OptionalPeer = keyof typeof OPTIONAL_PEERS;

const require = createRequire(import.meta.url);
const loaded = new Map<OptionalPeer, unknown>();

/**
 * Loads `name` (resolved from wsactor's own location, as an `import` would be), or throws
 * {@link MissingDependencyError} if it is not installed. `feature` is what needs it, for the
 * message. Any other failure (the package is there but itself broken) is thrown unchanged.
 */
export function requireOptional<T>(name: OptionalPeer, feature: string): T {
  if (loaded.has(name)) return loaded.get(name) as T;
  try {
    require.resolve(name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException | null)?.code === 'MODULE_NOT_FOUND') {
      throw new MissingDependencyError(name, feature, `npm install ${name}@${OPTIONAL_PEERS[name]}`);
    }
    throw error;
  }
  const module = require(name) as T;
  loaded.set(name, module);
  return module;
}

/**
 * A stand-in for a class of an optional peer that loads the peer at the first `new`: `new
 * Stand(...args)` returns `new (load())(...args)`, and `instanceof Stand` asks the real class.
 * Only construction and `instanceof` are forwarded, not static members.
 */
export function lazyClass<C extends abstract new (...args: never[]) => object>(name: string, load: () => C): C {
  function Stand(...args: unknown[]): object {
    if (new.target === undefined) throw new TypeError(`Class constructor ${name} cannot be invoked without 'new'`);
    return Reflect.construct(load() as unknown as new (...args: unknown[]) => object, args);
  }
  Object.defineProperty(Stand, 'name', { value: name });
  Object.defineProperty(Stand, Symbol.hasInstance, { value: (value: unknown) => value instanceof load() });
  return Stand as unknown as C;
}
