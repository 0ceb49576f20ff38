/**
 * Entry points that load only what is used (issue 10 part 4): `import 'wsactor'` loads neither
 * optional peer (`ioredis`, `prom-client`); each is loaded by the first call that needs it; and
 * without it installed that call (or `import 'wsactor/redis'`) fails with MissingDependencyError
 * naming the package and its install command. The subpath entries export the same objects as
 * `wsactor`. Loading is observed in child processes (fixtures/optional-peers-probe.ts), where
 * fixtures/hide-optional-peers.ts makes the peers unresolvable, as if not installed.
 * test/pack/pack.test.ts checks the same from the packed tarball, where they are really absent.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as api from '../../src/index.js';
import * as clusterEntry from '../../src/entries/cluster.js';
import * as observeEntry from '../../src/entries/observe.js';
import * as redisEntry from '../../src/entries/redis.js';
import { ErrorCodes, MissingDependencyError } from '../../src/errors.js';
import { OPTIONAL_PEERS } from '../../src/optional/require-optional.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const fixture = (name: string): string => resolve(root, 'test/integration/fixtures', name);

interface Step {
  readonly loaded: string[];
  readonly error: { name: string; code: unknown; message: string; dependency: unknown; install: unknown } | null;
}

/** Runs the probe in a fresh Node (with the peers hidden when asked); resolves with its report. */
function probe(hidePeers: boolean): Promise<Record<string, Step>> {
  const args = ['--import', 'tsx', ...(hidePeers ? ['--import', fixture('hide-optional-peers.ts')] : []), fixture('optional-peers-probe.ts')];
  return new Promise((done, reject) => {
    execFile(process.execPath, args, { cwd: root, timeout: 30_000, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`probe failed: ${error.message}\n${stderr}`));
      try {
        done(JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as Record<string, Step>);
      } catch {
        reject(new Error(`probe printed no report:\n${stdout}\n${stderr}`));
      }
    });
  });
}

const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as {
  exports: Record<string, { types: string; default: string }>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
};

describe('entry points', () => {
  it('import wsactor loads neither ioredis nor prom-client; the first createMetrics() and redisAdapter() load each', async () => {
    const report = await probe(false);
    for (const step of ['import wsactor', 'import wsactor/cluster', 'import wsactor/observe', 'import wsactor/internals', 'createServer']) {
      expect(report[step], step).toEqual({ loaded: [], error: null });
    }
    // The check sees a loaded peer (so the empty lists above mean something).
    expect(report['createMetrics()']).toEqual({ loaded: ['prom-client'], error: null });
    expect(report['redisAdapter()']).toEqual({ loaded: ['ioredis', 'prom-client'], error: null });
    expect(report['import wsactor/redis']?.error).toBeNull();
  });

  it('without the peers installed, wsactor works and each feature that needs one throws MissingDependencyError', async () => {
    const report = await probe(true);
    for (const step of ['import wsactor', 'import wsactor/cluster', 'import wsactor/observe', 'import wsactor/internals', 'createServer']) {
      expect(report[step], step).toEqual({ loaded: [], error: null });
    }
    const missing = (dependency: string, feature: string): Step['error'] => ({
      name: 'MissingDependencyError',
      code: 'WSA_ERR_MISSING_DEPENDENCY',
      dependency,
      install: `npm install ${dependency}@${OPTIONAL_PEERS[dependency as keyof typeof OPTIONAL_PEERS]}`,
      message: `${feature} needs the "${dependency}" package, which is not installed (it is an optional peer dependency of wsactor): run "npm install ${dependency}@${OPTIONAL_PEERS[dependency as keyof typeof OPTIONAL_PEERS]}"`,
    });
    expect(report['createMetrics()']?.error).toEqual(missing('prom-client', 'createMetrics'));
    expect(report['redisAdapter()']?.error).toEqual(missing('ioredis', 'redisAdapter'));
    // The Redis entry says at import that Redis cannot be used here.
    expect(report['import wsactor/redis']?.error).toEqual(missing('ioredis', 'wsactor/redis'));
  });

  it('MissingDependencyError is a WsActorError with a stable code', () => {
    const error = new MissingDependencyError('ioredis', 'redisAdapter', 'npm install ioredis@5');
    expect(error).toBeInstanceOf(api.WsActorError);
    expect(error.code).toBe(ErrorCodes.MISSING_DEPENDENCY);
    expect(ErrorCodes.MISSING_DEPENDENCY).toBe('WSA_ERR_MISSING_DEPENDENCY');
    expect(api.MissingDependencyError).toBe(MissingDependencyError);
  });

  it('ioredis and prom-client are optional peer dependencies (and dev dependencies for the tests), of the major the loader names', () => {
    expect(Object.keys(OPTIONAL_PEERS).sort()).toEqual(['ioredis', 'prom-client']);
    for (const [name, major] of Object.entries(OPTIONAL_PEERS)) {
      expect(pkg.dependencies?.[name], name).toBeUndefined();
      expect(pkg.peerDependencies?.[name], name).toBe(`^${major}.0.0`);
      expect(pkg.peerDependenciesMeta?.[name], name).toEqual({ optional: true });
      expect(pkg.devDependencies?.[name], name).toMatch(new RegExp(`^\\^${major}\\.`));
    }
  });

  it('each subpath entry exports its feature, the same objects as wsactor', () => {
    const entries = { cluster: clusterEntry, observe: observeEntry, redis: redisEntry };
    expect(Object.keys(clusterEntry).sort()).toEqual(['MAX_NODE_ID', 'MemoryCluster', 'NODE_ID_SHIFT', 'memoryCluster', 'nodeOf', 'runCluster']);
    expect(Object.keys(observeEntry).sort()).toEqual(['createLiveView', 'createMetrics']);
    expect(Object.keys(redisEntry).sort()).toEqual(['redisAdapter']);
    for (const [entry, module] of Object.entries(entries)) {
      for (const [name, value] of Object.entries(module)) expect(value, `wsactor/${entry} ${name}`).toBe((api as Record<string, unknown>)[name]);
      // package.json maps the subpath to the built entry (src/entries/<entry>.ts).
      expect(pkg.exports[`./${entry}`]).toEqual({ types: `./dist/entries/${entry}.d.ts`, default: `./dist/entries/${entry}.js` });
    }
  });
});
