/**
 * Options of `createLiveView` (and its `listen`) and `createMetrics` go through the same
 * validator as the server's: an unknown option or a bad value throws InvalidOptionError with
 * an exact message, before anything is subscribed, registered or listened on.
 */
import { Counter, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createLiveView,
  createMetrics,
  ErrorCodes,
  InvalidOptionError,
  LifecycleStream,
  ServerStats,
  type LiveView,
  type LiveViewOptions,
  type MetricsOptions,
} from '../../src/index.js';

const silent = { error: () => undefined, warn: () => undefined };

/** Runs `make` and expects InvalidOptionError with exactly `message`. */
function rejects(make: () => unknown, message: string): void {
  let caught: unknown;
  try {
    make();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(InvalidOptionError);
  expect((caught as InvalidOptionError).code).toBe(ErrorCodes.INVALID_OPTION);
  expect((caught as InvalidOptionError).message).toBe(message);
}

describe('createLiveView options', () => {
  const views: LiveView[] = [];
  afterEach(async () => {
    await Promise.all(views.splice(0).map((view) => view.close()));
  });

  function source(): { lifecycle: LifecycleStream; state: string } {
    return { lifecycle: new LifecycleStream(silent), state: 'running' };
  }

  const view = (options: unknown): LiveView => {
    const made = createLiveView(source(), options as LiveViewOptions);
    views.push(made);
    return made;
  };

  it('accepts every documented option and applies the defaults', () => {
    expect(view({}).snapshot().limits).toEqual({ maxClients: 500, maxTransitions: 50, maxCloses: 100 });
    expect(view({ maxClients: 1, maxTransitions: 2, maxCloses: 3, path: '/debug/' }).snapshot().limits).toEqual({ maxClients: 1, maxTransitions: 2, maxCloses: 3 });
    // An explicit undefined takes the default, as for server options.
    expect(view({ maxClients: undefined, path: undefined }).snapshot().limits.maxClients).toBe(500);
  });

  it('rejects an unknown option, even with an undefined value, and inherited names', () => {
    rejects(() => view({ maxclients: 5 }), 'Unknown createLiveView option "maxclients"');
    rejects(() => view({ colour: undefined }), 'Unknown createLiveView option "colour"');
    rejects(() => view({ toString: 1 }), 'Unknown createLiveView option "toString"');
  });

  it('rejects options that are not an object', () => {
    rejects(() => view(null), 'createLiveView options must be an object');
    rejects(() => view('path=/x'), 'createLiveView options must be an object');
  });

  it.each(['maxClients', 'maxTransitions', 'maxCloses'])('%s must be a positive integer', (key) => {
    for (const value of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, '5', null]) {
      rejects(() => view({ [key]: value }), `createLiveView option "${key}" must be a positive integer, got ${String(value)}`);
    }
  });

  it('path must be a pathname that can match', () => {
    rejects(() => view({ path: '_wsactor' }), 'createLiveView option "path" must start with "/", got _wsactor');
    rejects(() => view({ path: 42 }), 'createLiveView option "path" must start with "/", got 42');
    rejects(() => view({ path: '/x?y' }), 'createLiveView option "path" is a pathname and can never contain "?" or "#" (the query is not part of it), got "/x?y"');
    rejects(() => view({ path: '/a b' }), 'createLiveView option "path" "/a b" can never match: request pathnames arrive normalized, as "/a%20b"');
  });

  it('subscribes to nothing when its options are bad', () => {
    const { lifecycle } = source();
    expect(() => createLiveView({ lifecycle, state: 'running' }, { maxCloses: 0 })).toThrow(InvalidOptionError);
    expect(lifecycle.active).toBe(false);
  });

  it('listen() rejects bad options with InvalidOptionError', async () => {
    const made = view({});
    await expect(made.listen({ port: 70_000 })).rejects.toThrow(new InvalidOptionError('LiveView.listen option "port" must be an integer from 0 to 65535, got 70000'));
    await expect(made.listen({ host: '' })).rejects.toThrow(new InvalidOptionError('LiveView.listen option "host" must be a non-empty string'));
    await expect(made.listen({ hots: 'localhost' } as never)).rejects.toThrow(new InvalidOptionError('Unknown LiveView.listen option "hots"'));
    await expect(made.listen(null as never)).rejects.toThrow(new InvalidOptionError('LiveView.listen options must be an object'));
    const served = await made.listen({ host: '127.0.0.1', port: 0 });
    expect(served.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/_wsactor$/);
  });
});

describe('createMetrics options', () => {
  const source = (): { lifecycle: LifecycleStream; stats: ServerStats } => ({ lifecycle: new LifecycleStream(silent), stats: new ServerStats() });
  const metrics = (options: unknown, registry?: Registry): void => {
    createMetrics(source(), { ...(registry === undefined ? {} : { registry }), ...(options as MetricsOptions) }).close();
  };

  it('accepts every documented option', async () => {
    const registry = new Registry();
    const { lifecycle, stats } = source();
    const made = createMetrics({ lifecycle, stats }, { registry, prefix: 'app:', path: '/m', buckets: [0.1, 1] });
    stats.onDataTimed?.(50, true); // 0.05 s: in the 0.1 bucket
    const text = await registry.metrics();
    expect(text).toMatch(/^app:hook_duration_seconds_bucket\{[^}]*le="0\.1"[^}]*\} 1$/m);
    expect(text).toMatch(/^app:hook_duration_seconds_bucket\{[^}]*le="\+Inf"[^}]*\} 1$/m);
    expect(text).not.toContain('le="0.00005"');
    made.close();
    metrics({ prefix: '' }); // unprefixed names
    metrics({ prefix: undefined, path: undefined, registry: undefined });
  });

  it('rejects an unknown option and options that are not an object', () => {
    rejects(() => metrics({ prefx: 'x_' }), 'Unknown createMetrics option "prefx"');
    rejects(() => metrics({ valueOf: undefined }), 'Unknown createMetrics option "valueOf"');
    rejects(() => createMetrics(source(), null as never), 'createMetrics options must be an object');
  });

  it('registry must be a prom-client Registry', () => {
    const message = 'createMetrics option "registry" must be a prom-client Registry';
    rejects(() => metrics({ registry: {} }), message);
    rejects(() => metrics({ registry: null }), message);
    rejects(() => metrics({ registry: new Counter({ name: 'c', help: 'c', registers: [] }) }), message);
  });

  it('prefix must make valid metric names', () => {
    const message = (shown: string): string =>
      `createMetrics option "prefix" must be empty or a Prometheus metric name (letters, digits, "_" and ":", not starting with a digit), got ${shown}`;
    rejects(() => metrics({ prefix: '9app_' }), message('"9app_"'));
    rejects(() => metrics({ prefix: 'my-app_' }), message('"my-app_"'));
    rejects(() => metrics({ prefix: 5 }), message('5'));
    rejects(() => metrics({ prefix: null }), message('null'));
  });

  it('path must be a pathname that can match', () => {
    rejects(() => metrics({ path: 'metrics' }), 'createMetrics option "path" must start with "/", got metrics');
    rejects(() => metrics({ path: '/metrics?x' }), 'createMetrics option "path" is a pathname and can never contain "?" or "#" (the query is not part of it), got "/metrics?x"');
  });

  it('buckets must be finite, increasing and at least one', () => {
    const message = 'createMetrics option "buckets" must be a non-empty array of finite numbers in increasing order';
    for (const buckets of [[], [1, 0.5], [0.1, 0.1], [0.1, Number.POSITIVE_INFINITY], [Number.NaN], ['0.1'], 0.1, null]) {
      rejects(() => metrics({ buckets }), message);
    }
  });

  it('registers nothing and keeps stats.onDataTimed when its options are bad', () => {
    const registry = new Registry();
    const { lifecycle, stats } = source();
    expect(() => createMetrics({ lifecycle, stats }, { registry, buckets: [] })).toThrow(InvalidOptionError);
    expect(registry.getMetricsAsArray()).toEqual([]);
    expect(stats.onDataTimed).toBeNull();
    expect(lifecycle.active).toBe(false);
  });
});
