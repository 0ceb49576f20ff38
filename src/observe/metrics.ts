/**
 * Prometheus metrics for a wsactor server, with prom-client. Opt-in: nothing is created, and
 * nothing runs on the hot path, unless the app calls {@link createMetrics}.
 *
 * Sources: connection gauges, handshakes, closes and hook histograms come from the lifecycle
 * stream (`server.lifecycle`); message, byte, pause, drop and slow-consumer counters are read
 * from `server.stats` when the registry is scraped; `onData` durations come from
 * `server.stats.onDataTimed`, which this module sets while it is attached.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, Registry, type Metric } from '../optional/prom-client.js'; // prom-client, loaded at the first `new`
import { LIFECYCLE_STATES, type ConnectionTransition, type LifecycleEvent, type LifecycleState } from '../runtime/lifecycle-events.js';
import { pathnameOf } from '../runtime/request-target.js';
import type { ServerStats } from '../runtime/stats.js';
import type { AdapterStats } from '../cluster/adapter.js';
import { methods, optional, optionScope, pathname, readOptions, satisfies, showValue, string } from '../validate.js';
import { endOf } from './totals.js';

/** What metrics need of a server: its lifecycle stream and its counters. */
export interface MetricsSource {
  readonly lifecycle: { subscribe(listener: (event: LifecycleEvent) => void): () => void };
  readonly stats: ServerStats;
  /** Counters of the cluster adapter, when the server has one. */
  readonly clusterStats?: Readonly<AdapterStats> | null;
}

/** Options of {@link createMetrics}; a bad one throws `InvalidOptionError` (`WSA_ERR_INVALID_OPTION`). */
export interface MetricsOptions {
  /** Registry to register into. Default: a new private `Registry` (never the global one). */
  registry?: Registry;
  /** Prefix of every metric name: empty, or a metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`). Default: `'wsactor_'`. */
  prefix?: string;
  /** Pathname served by `handle` (a normalized pathname, as for the server's `path`). Default: `'/metrics'`. */
  path?: string;
  /** Histogram buckets of hook durations, in seconds: finite, increasing, at least one. Default: 50 µs to 10 s. */
  buckets?: readonly number[];
}

/** Attached metrics; see {@link createMetrics}. */
export interface WsActorMetrics {
  /** The registry holding the metrics (the one passed in, or a private one). */
  readonly registry: Registry;
  /**
   * Answers `GET <path>` (and HEAD) with the Prometheus text format and returns true; returns
   * false, touching nothing, for any other path so it can sit beside other routes.
   */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  /** Detaches: unsubscribes, restores `stats.onDataTimed`, removes the metrics from the registry. */
  close(): void;
}

/** Connection states shown by the `connections` gauge (`closed` is not a live state). */
const LIVE_STATES: readonly LifecycleState[] = LIFECYCLE_STATES.filter((state) => state !== 'closed');

const isBuckets = (value: unknown): boolean =>
  Array.isArray(value) &&
  value.length > 0 &&
  value.every((bound, i) => typeof bound === 'number' && Number.isFinite(bound) && (i === 0 || bound > (value[i - 1] as number)));

const metricsScope = optionScope('createMetrics');
const metricsSpec = {
  registry: optional(methods<Registry>(['registerMetric', 'getSingleMetric', 'removeSingleMetric', 'metrics'], 'must be a prom-client Registry')),
  prefix: string({
    test: (prefix) => /^(?:[a-zA-Z_:][a-zA-Z0-9_:]*)?$/.test(prefix),
    requirement: 'must be empty or a Prometheus metric name (letters, digits, "_" and ":", not starting with a digit)',
    shown: showValue,
  }),
  path: pathname(),
  buckets: satisfies<readonly number[]>(isBuckets, 'must be a non-empty array of finite numbers in increasing order'),
};

const DEFAULT_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

/**
 * Attaches Prometheus metrics to `server`. Metric names (with the default prefix):
 *
 * - `wsactor_connections{state}` gauge: connections seen since attaching, by current state;
 * - `wsactor_handshakes_total{outcome,status}`: `accepted`/101 (reached `open.opening`),
 *   `rejected`/HTTP status, `aborted` (socket gone during the handshake);
 * - `wsactor_closes_total{code}`: closes of opened connections, by close code;
 * - `wsactor_upgrades_refused_total{status}`: upgrades refused before a connection existed
 *   (wrong path 404, bad request 400/405/426/505, origin 403, not running or limit 503);
 * - `wsactor_hook_duration_seconds{hook,result}` histogram: onHandshake, onOpen, onClose
 *   (lifecycle timings) and onData (`stats.onDataTimed`); result is `ok` or `error`;
 * - `wsactor_messages_total{direction}`, `wsactor_bytes_total{direction}`: `in` and `out`;
 * - `wsactor_read_pauses_total{reason}`: `backlog` and `rate`;
 * - `wsactor_messages_dropped_total`, `wsactor_slow_consumer_closes_total`;
 * - with a cluster adapter, `wsactor_cluster_events_total{event}`: `published`,
 *   `publish_failed`, `received`, `gaps` (messages from other nodes that never arrived),
 *   `request_timeouts`, `reconnects`.
 *
 * Every connection ends once: in `closes_total`, or in `handshakes_total` as `rejected` or
 * `aborted` (the live view's totals use the same definition, see totals.ts).
 * Counters read from `server.stats` count since the server was created, not since attaching.
 * Options are validated first: an unknown one or a bad value throws `InvalidOptionError`.
 */
export function createMetrics(server: MetricsSource, options: MetricsOptions = {}): WsActorMetrics {
  const read = readOptions(metricsScope, options, metricsSpec, { registry: undefined, prefix: 'wsactor_', path: '/metrics', buckets: DEFAULT_BUCKETS });
  const registry = read.registry ?? new Registry();
  const { prefix, path } = read;
  const buckets = [...read.buckets];
  const { stats } = server;
  const created: string[] = [];
  const register = <M extends Metric>(metric: M): M => {
    created.push((metric as M & { name: string }).name);
    return metric;
  };
  const registers = [registry];

  // Live connections: clientId -> current state; counts kept incrementally, set on scrape.
  const states = new Map<number, LifecycleState>();
  const counts = new Map<LifecycleState, number>(LIVE_STATES.map((s) => [s, 0]));
  register(
    new Gauge({
      name: `${prefix}connections`,
      help: 'Connections by lifecycle state (seen since metrics were attached)',
      labelNames: ['state'],
      registers,
      collect() {
        for (const [state, n] of counts) this.set({ state }, n);
      },
    }),
  );
  const handshakes = register(
    new Counter({ name: `${prefix}handshakes_total`, help: 'Handshakes by outcome and HTTP status', labelNames: ['outcome', 'status'], registers }),
  );
  const closes = register(new Counter({ name: `${prefix}closes_total`, help: 'Closes of opened connections by close code', labelNames: ['code'], registers }));
  const refused = register(
    new Counter({
      name: `${prefix}upgrades_refused_total`,
      help: 'Upgrade requests refused before a connection existed (path, bad request, origin, limit), by HTTP status',
      labelNames: ['status'],
      registers,
    }),
  );
  const hooks = register(
    new Histogram({
      name: `${prefix}hook_duration_seconds`,
      help: 'Duration of app hooks in seconds',
      labelNames: ['hook', 'result'],
      buckets,
      registers,
    }),
  );

  /** A counter mirroring a monotonic number of `server.stats`, read on each scrape. */
  const mirror = (name: string, help: string, read: () => number): void => {
    register(
      new Counter({
        name: `${prefix}${name}`,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      }),
    );
  };
  const mirrorLabelled = (name: string, help: string, label: string, reads: Record<string, () => number>): void => {
    register(
      new Counter({
        name: `${prefix}${name}`,
        help,
        labelNames: [label],
        registers,
        collect() {
          this.reset();
          for (const [value, read] of Object.entries(reads)) this.inc({ [label]: value }, read());
        },
      }),
    );
  };
  mirrorLabelled('messages_total', 'Data messages received (in) and sent (out)', 'direction', {
    in: () => stats.messagesIn,
    out: () => stats.messagesOut,
  });
  mirrorLabelled('bytes_total', 'Payload bytes received (in) and sent (out)', 'direction', {
    in: () => stats.bytesIn,
    out: () => stats.bytesOut,
  });
  mirrorLabelled('read_pauses_total', 'Times reading from a client paused, by reason', 'reason', {
    backlog: () => stats.backlogPauses,
    rate: () => stats.ratePauses,
  });
  mirror('messages_dropped_total', 'Messages received but never delivered to onData', () => stats.messagesDropped);
  mirror('slow_consumer_closes_total', 'Clients closed because their outbound buffer limit was exceeded', () => stats.slowConsumerCloses);
  mirror('stop_cut_total', 'Clients cut off because server.stop() reached stopTimeoutMs', () => stats.stopCut);

  const cluster = server.clusterStats ?? null;
  if (cluster !== null) {
    mirrorLabelled('cluster_events_total', 'Cluster adapter events: messages, losses and reconnects', 'event', {
      published: () => cluster.published,
      publish_failed: () => cluster.publishFailed,
      received: () => cluster.received,
      gaps: () => cluster.gaps,
      request_timeouts: () => cluster.requestTimeouts,
      reconnects: () => cluster.reconnects,
    });
  }

  const onTransition = (e: ConnectionTransition): void => {
    if (e.hook !== null) hooks.observe({ hook: e.hook.name, result: e.hook.ok ? 'ok' : 'error' }, e.hook.durationMs / 1000);
    const known = states.get(e.clientId);
    if (known !== undefined) counts.set(known, (counts.get(known) ?? 1) - 1);
    if (e.to === 'open.opening') handshakes.inc({ outcome: 'accepted', status: '101' });
    if (e.to === 'closed') {
      states.delete(e.clientId);
      const end = endOf(e);
      if (end === 'rejected') handshakes.inc({ outcome: 'rejected', status: String(e.status ?? 0) });
      else if (end === 'aborted') handshakes.inc({ outcome: 'aborted', status: '' });
      else closes.inc({ code: String(e.closeCode ?? 1006) });
      return;
    }
    states.set(e.clientId, e.to);
    counts.set(e.to, (counts.get(e.to) ?? 0) + 1);
  };
  const unsubscribe = server.lifecycle.subscribe((event) => {
    if (event.kind === 'connection') onTransition(event);
    else if (event.kind === 'refused') refused.inc({ status: String(event.status) });
  });

  // onData timing: bound children, so the hot path does no label hashing.
  const onDataOk = hooks.labels({ hook: 'onData', result: 'ok' });
  const onDataError = hooks.labels({ hook: 'onData', result: 'error' });
  const previous = stats.onDataTimed;
  const timed = (durationMs: number, ok: boolean): void => {
    (ok ? onDataOk : onDataError).observe(durationMs / 1000);
    previous?.(durationMs, ok);
  };
  stats.onDataTimed = timed;

  let closed = false;
  return {
    registry,
    handle(req, res) {
      if (pathnameOf(req.url) !== path) return false;
      res.on('error', () => undefined);
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { 'Content-Type': 'text/plain; charset=utf-8', Allow: 'GET, HEAD' }).end('Method Not Allowed');
        return true;
      }
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'Content-Type': registry.contentType, 'Cache-Control': 'no-store' });
          res.end(req.method === 'HEAD' ? undefined : text);
        },
        (error: unknown) => {
          res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`metrics failed: ${String(error)}`);
        },
      );
      return true;
    },
    close() {
      if (closed) return;
      closed = true;
      unsubscribe();
      if (stats.onDataTimed === timed) stats.onDataTimed = previous;
      for (const name of created) registry.removeSingleMetric(name);
    },
  };
}
