/**
 * A live view of a wsactor server in the browser: the supervisor's state, how many
 * connections are in each state now, running totals (opened, closed, rejected, aborted,
 * refused: the same definitions as the metrics), every recent client's state timeline with
 * hook durations, the recent closes and refused upgrades, and state diagrams of the
 * connection machine and of the app's per-client machine (if it has one) with the live
 * number of clients in each state. Opt-in (nothing runs unless the app calls
 * {@link createLiveView}), fully offline (one inline page, no external resources), bounded
 * in memory.
 *
 * It is a debugging aid: it shows client ids, close reasons and app state names. Serve it on
 * a loopback or otherwise protected address (`listen()` defaults to 127.0.0.1).
 */
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AnyStateMachine } from 'xstate';
import { LIFECYCLE_STATES, type ClientMachineTransition, type ConnectionTransition, type HookTiming, type LifecycleEvent, type LifecycleState, type UpgradeRefusal } from '../runtime/lifecycle-events.js';
import { pathnameOf } from '../runtime/request-target.js';
import { integer, optionScope, pathname, readOptions, string } from '../validate.js';
import { clipPath, renderLiveViewPage } from './live-view-page.js';
import { AppStateCounts, APP_MACHINE_DONE, connectionDiagramCounts, connectionMachineDiagram } from './machine-counts.js';
import { describeMachine, type MachineDiagram } from './machine-diagram.js';
import { Totals, type ConnectionEnd, type LiveViewTotals } from './totals.js';
import { answerClientError } from '../runtime/handshake.js';

export type { MachineDiagram } from './machine-diagram.js';
export type { ConnectionEnd, LiveViewTotals } from './totals.js';

/**
 * What the live view needs of a server: its lifecycle stream and its current state, and
 * (optional) the app's per-client machine, to draw it (`WsActorServer.clientMachine`).
 */
export interface LiveViewSource {
  readonly lifecycle: { subscribe(listener: (event: LifecycleEvent) => void): () => void };
  readonly state: string;
  readonly clientMachine?: { readonly machine: AnyStateMachine } | null;
}

/** Options of {@link createLiveView}; a bad one throws `InvalidOptionError` (`WSA_ERR_INVALID_OPTION`). */
export interface LiveViewOptions {
  /**
   * Base pathname (a normalized pathname, as for the server's `path`): the page,
   * `<path>/events` (SSE) and `<path>/state` (JSON). Default: `/_wsactor`.
   */
  path?: string;
  /**
   * Clients kept; beyond it the client that closed longest ago is forgotten (the oldest seen
   * when none is closed). The page forgets exactly the clients the server does. Default: 500.
   */
  maxClients?: number;
  /** Transitions kept per client (the most recent). Default: 50. */
  maxTransitions?: number;
  /** Entries kept in the recent-closes list, and in the refused-upgrades list. Default: 100. */
  maxCloses?: number;
}

/** Options of {@link LiveView.listen}. */
export interface LiveViewListenOptions {
  /** Port to listen on; 0 picks a free one. Default: 0. */
  port?: number;
  /** Interface to listen on. Default: `127.0.0.1`. */
  host?: string;
}

/** One step of a client's timeline. */
export interface TimelineEntry {
  readonly from: LifecycleState | null;
  readonly to: LifecycleState;
  readonly at: number;
  /** The hook whose settling caused this transition, with its duration. */
  readonly hook: HookTiming | null;
  /** Order of the event among everything the view saw (merges the two timelines of a client). */
  readonly seq: number;
}

/** One step of a client's app machine (dotted state names, as `getInfo(id).machine_state`). */
export interface AppTimelineEntry {
  readonly from: string | null;
  readonly to: string;
  readonly at: number;
  readonly seq: number;
}

/** What the live view knows of one client. */
export interface ClientView {
  readonly id: number;
  state: LifecycleState;
  /** Time of the first transition seen, ms since the epoch. */
  readonly firstAt: number;
  /** Transitions seen in all (the timeline keeps only the most recent). */
  transitions: number;
  readonly timeline: TimelineEntry[];
  /** The app machine's current state (null: the app has none, or it has not started yet). */
  appState: string | null;
  /** App machine transitions seen in all (the app timeline keeps only the most recent). */
  appTransitions: number;
  readonly appTimeline: AppTimelineEntry[];
  closeCode: number | null;
  closeReason: string | null;
  outcome: ConnectionTransition['outcome'];
  status: number | null;
}

/** One entry of the recent-closes list (rejected handshakes carry a status, not a code). */
export interface CloseView {
  readonly clientId: number;
  readonly at: number;
  readonly code: number | null;
  readonly reason: string | null;
  readonly outcome: ConnectionTransition['outcome'];
  readonly status: number | null;
  /** Which total it counts in (see {@link LiveViewTotals}). */
  readonly end: ConnectionEnd;
}

/** One entry of the refused-upgrades list (no connection was made: no client id). */
export interface RefusalView {
  readonly at: number;
  readonly status: number;
  readonly reason: string;
  /** The requested pathname (clipped to 200 characters), or null when it did not parse. */
  readonly path: string | null;
}

/**
 * Live clients in each state of each diagram, keyed by state path; a compound state counts
 * every client inside it. The connection machine's `closed` counts every close since the view
 * started (as `counts.closed`); an app machine counts clients from its start until their
 * `onClose` runs (its actor has stopped).
 */
export interface MachineCounts {
  readonly connection: Record<string, number>;
  /** Null when the app has no per-client machine. */
  readonly app: Record<string, number> | null;
}

/** Everything the live view shows; `GET <path>/state` answers this as JSON. */
export interface LiveViewSnapshot {
  readonly supervisor: string;
  /**
   * Connections seen in each state now; `closed` counts every connection that ended since the
   * view started (closes after open, rejected and aborted handshakes: see `totals`).
   */
  readonly counts: Record<LifecycleState, number>;
  /** Running totals since the view started. */
  readonly totals: LiveViewTotals;
  /** Kept clients in the order first seen (oldest first). */
  readonly clients: ClientView[];
  /** Oldest first, the last `limits.maxCloses`. */
  readonly closes: CloseView[];
  /** Oldest first, the last `limits.maxCloses`. */
  readonly refusals: RefusalView[];
  readonly limits: { readonly maxClients: number; readonly maxTransitions: number; readonly maxCloses: number };
  /** State diagrams, derived from the machine definitions (see {@link MachineDiagram}). */
  readonly machines: { readonly connection: MachineDiagram; readonly app: MachineDiagram | null };
  readonly machineCounts: MachineCounts;
  /** The `seq` of the last event seen. */
  readonly seq: number;
}

/** One Server-Sent Event after the initial `snapshot`: the event, the new counts and totals. */
export interface LiveViewUpdate {
  readonly event: LifecycleEvent;
  /** The event's order (as `TimelineEntry.seq`). */
  readonly seq: number;
  readonly supervisor: string;
  readonly counts: Record<LifecycleState, number>;
  readonly totals: LiveViewTotals;
  readonly machineCounts: MachineCounts;
  /** Clients the view forgot on this event (over `maxClients`): the page drops exactly these. */
  readonly evicted: readonly number[];
  /** For a connection's transition to `closed`: how it ended; else null. */
  readonly end: ConnectionEnd | null;
}

/** A running live view; see {@link createLiveView}. */
export interface LiveView {
  /**
   * Serves `GET <path>` (the page), `<path>/events` (SSE: one `snapshot` event, then an
   * `update` per transition) and `<path>/state` (JSON) and returns true; returns false,
   * touching nothing, for every other path.
   */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  /**
   * Serves the view on its own HTTP server. Default: 127.0.0.1, port 0 (a free port). Bad
   * options reject with `InvalidOptionError`.
   */
  listen(options?: LiveViewListenOptions): Promise<{ readonly url: string; close(): Promise<void> }>;
  /** The current state, as `GET <path>/state` answers it. */
  snapshot(): LiveViewSnapshot;
  /** Unsubscribes, ends every event stream and closes the servers `listen` started. */
  close(): Promise<void>;
}

const STATES = LIFECYCLE_STATES;
const viewScope = optionScope('createLiveView');
const viewSpec = { path: pathname(), maxClients: integer(), maxTransitions: integer(), maxCloses: integer() };
const listenScope = optionScope('LiveView.listen');
const listenSpec = { port: integer({ min: 0, max: 65535 }), host: string({ nonEmpty: true }) };
/** An event stream that has this many bytes unsent is cut; the browser reconnects with a snapshot. */
const MAX_SSE_BACKLOG = 1024 * 1024;
const SSE_PING_MS = 15_000;

/**
 * Starts watching `server.lifecycle` and returns the view; it keeps watching until `close()`.
 * Options are validated first: an unknown one or a bad value throws `InvalidOptionError`.
 */
export function createLiveView(server: LiveViewSource, options: LiveViewOptions = {}): LiveView {
  const read = readOptions(viewScope, options, viewSpec, { path: '/_wsactor', maxClients: 500, maxTransitions: 50, maxCloses: 100 });
  const path = read.path.replace(/\/+$/, '');
  const limits = { maxClients: read.maxClients, maxTransitions: read.maxTransitions, maxCloses: read.maxCloses };
  let supervisor = server.state;
  const counts = Object.fromEntries(STATES.map((s) => [s, 0])) as Record<LifecycleState, number>;
  const live = new Map<number, LifecycleState>(); // every connection not yet closed
  const clients = new Map<number, ClientView>(); // insertion order = first seen
  const closedIds = new Set<number>(); // kept clients that are closed, oldest close first
  const closes: CloseView[] = [];
  const refusals: RefusalView[] = [];
  const totals = new Totals();
  const sinks = new Set<ServerResponse>();
  let ping: NodeJS.Timeout | null = null;
  let seq = 0;

  const appMachine = server.clientMachine?.machine;
  const machines = { connection: connectionMachineDiagram(), app: appMachine === undefined ? null : describeMachine(appMachine) };
  const app = machines.app === null ? null : new AppStateCounts(machines.app);
  const machineCounts = (): MachineCounts => ({ connection: connectionDiagramCounts(machines.connection, counts), app: app?.counts() ?? null });

  const recordApp = (e: ClientMachineTransition): void => {
    const lifecycle = live.get(e.clientId);
    if (lifecycle !== undefined && !APP_MACHINE_DONE.has(lifecycle)) app?.move(e.clientId, e.to);
    const client = clients.get(e.clientId);
    if (client === undefined) return;
    client.appState = e.to;
    client.appTransitions++;
    client.appTimeline.push({ from: e.from, to: e.to, at: e.at, seq });
    if (client.appTimeline.length > limits.maxTransitions) client.appTimeline.shift();
  };

  const recordRefusal = (e: UpgradeRefusal): void => {
    refusals.push({ at: e.at, status: e.status, reason: e.reason, path: clipPath(e.path) });
    if (refusals.length > limits.maxCloses) refusals.shift();
  };

  /** Records a connection's transition; returns the ids it made the view forget. */
  const record = (e: ConnectionTransition, end: ConnectionEnd | null): number[] => {
    const evicted: number[] = [];
    const known = live.get(e.clientId);
    if (known !== undefined) counts[known]--;
    counts[e.to]++;
    if (e.to === 'closed') live.delete(e.clientId);
    else live.set(e.clientId, e.to);
    if (APP_MACHINE_DONE.has(e.to) && app?.has(e.clientId) === true) app.move(e.clientId, null);

    let client = clients.get(e.clientId);
    if (client === undefined) {
      client = { id: e.clientId, state: e.to, firstAt: e.at, transitions: 0, timeline: [], appState: null, appTransitions: 0, appTimeline: [], closeCode: null, closeReason: null, outcome: null, status: null };
      clients.set(e.clientId, client);
      if (clients.size > limits.maxClients) {
        const [oldestClosed] = closedIds;
        const [oldest] = clients.keys();
        const victim = oldestClosed ?? oldest;
        if (victim !== undefined) {
          clients.delete(victim);
          closedIds.delete(victim);
          evicted.push(victim);
        }
      }
    }
    client.state = e.to;
    client.transitions++;
    client.timeline.push({ from: e.from, to: e.to, at: e.at, hook: e.hook, seq });
    if (client.timeline.length > limits.maxTransitions) client.timeline.shift();
    if (e.closeCode !== null) client.closeCode = e.closeCode;
    if (e.closeReason !== null) client.closeReason = e.closeReason;
    if (e.to === 'closed') {
      client.outcome = e.outcome;
      client.status = e.status;
      closedIds.add(e.clientId);
      closes.push({ clientId: e.clientId, at: e.at, code: e.closeCode, reason: e.closeReason, outcome: e.outcome, status: e.status, end: end ?? 'closed' });
      if (closes.length > limits.maxCloses) closes.shift();
    }
    return evicted;
  };

  const broadcast = (event: LifecycleEvent, evicted: readonly number[], end: ConnectionEnd | null): void => {
    if (sinks.size === 0) return;
    const update: LiveViewUpdate = { event, seq, supervisor, counts, totals: totals.get(), machineCounts: machineCounts(), evicted, end };
    const chunk = `event: update\ndata: ${JSON.stringify(update)}\n\n`;
    for (const res of sinks) {
      if (res.writableLength > MAX_SSE_BACKLOG) {
        sinks.delete(res);
        res.end();
      } else res.write(chunk);
    }
  };

  const NONE: readonly number[] = [];
  const unsubscribe = server.lifecycle.subscribe((event) => {
    seq++;
    const end = totals.add(event);
    let evicted = NONE;
    if (event.kind === 'server') supervisor = event.to;
    else if (event.kind === 'client-machine') recordApp(event);
    else if (event.kind === 'refused') recordRefusal(event);
    else evicted = record(event, end);
    broadcast(event, evicted, end);
  });

  const snapshot = (): LiveViewSnapshot => ({
    supervisor,
    counts: { ...counts },
    totals: totals.get(),
    clients: [...clients.values()].map((c) => ({ ...c, timeline: [...c.timeline], appTimeline: [...c.appTimeline] })),
    closes: [...closes],
    refusals: [...refusals],
    limits,
    machines,
    machineCounts: machineCounts(),
    seq,
  });

  const serveEvents = (req: IncomingMessage, res: ServerResponse): void => {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Accel-Buffering': 'no',
      Connection: 'keep-alive',
    });
    res.write(`retry: 2000\nevent: snapshot\ndata: ${JSON.stringify(snapshot())}\n\n`);
    sinks.add(res);
    ping ??= setInterval(() => {
      for (const sink of sinks) sink.write(': ping\n\n');
    }, SSE_PING_MS).unref();
    req.on('close', () => {
      sinks.delete(res);
      if (sinks.size === 0 && ping !== null) {
        clearInterval(ping);
        ping = null;
      }
    });
  };

  const servePage = (res: ServerResponse, head: boolean): void => {
    const nonce = randomBytes(16).toString('base64');
    const body = renderLiveViewPage(snapshot(), path, nonce);
    res.writeHead(200, {
      'Content-Type': 'text/html; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      // Nothing but our own inline script and style, and our own event stream.
      'Content-Security-Policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    });
    res.end(head ? undefined : body);
  };

  const handle = (req: IncomingMessage, res: ServerResponse): boolean => {
    const pathname = pathnameOf(req.url);
    const route = pathname === path || pathname === `${path}/` ? 'page' : pathname === `${path}/events` ? 'events' : pathname === `${path}/state` ? 'state' : null;
    if (route === null) return false;
    res.on('error', () => undefined);
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) {
      res.writeHead(405, { 'Content-Type': 'text/plain; charset=utf-8', Allow: 'GET, HEAD' }).end('Method Not Allowed');
    } else if (route === 'page') servePage(res, head);
    else if (route === 'events') serveEvents(req, res);
    else {
      res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(head ? undefined : JSON.stringify(snapshot()));
    }
    return true;
  };

  const servers = new Set<() => Promise<void>>();
  const listen = async (options: LiveViewListenOptions = {}) => {
    const { port, host } = readOptions(listenScope, options, listenSpec, { port: 0, host: '127.0.0.1' });
    const http = createHttpServer((req, res) => {
      if (!handle(req, res)) res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Not Found');
    });
    http.on('clientError', answerClientError);
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(port, host, () => {
        http.off('error', reject);
        resolve();
      });
    });
    const address = http.address();
    const bound = address !== null && typeof address === 'object' ? address.port : port;
    const shownHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
    const close = (): Promise<void> => {
      servers.delete(close);
      return new Promise((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
    };
    servers.add(close);
    return { url: `http://${shownHost}:${bound}${path}`, close };
  };

  return {
    handle,
    listen,
    snapshot,
    async close() {
      unsubscribe();
      if (ping !== null) clearInterval(ping);
      ping = null;
      for (const res of sinks) res.end();
      sinks.clear();
      await Promise.all([...servers].map((close) => close()));
    },
  };
}
