/**
 * The live view's machine diagrams as JSON: the states and transitions derived from a machine
 * definition (on, always, after, onDone, invoke onDone/onError, guards, targetless), a
 * layout whose boxes nest and do not overlap, the live counts per state (app machine from
 * `client-machine` transitions, connection machine from the lifecycle counts), and escaping of
 * app-controlled names in the server-rendered page.
 */
import { describe, expect, it } from 'vitest';
import { fromPromise, setup } from 'xstate';
import { connectionMachine, createLiveView, LifecycleStream, type LifecycleState, type LiveView } from '../../src/index.js';
import { renderLiveViewPage } from '../../src/observe/live-view-page.js';
import { describeMachine, statePaths, type DiagramBox, type MachineDiagram } from '../../src/observe/machine-diagram.js';
import { LIFECYCLE_STATES } from '../../src/runtime/lifecycle-events.js';

type Ev = { type: 'login'; name: string } | { type: 'play' } | { type: 'pause' } | { type: 'quit' } | { type: 'say' };

/** A small app machine with every kind of transition the diagram reads. */
const game = setup({
  types: { events: {} as Ev },
  actors: { save: fromPromise(() => Promise.resolve()) },
  guards: { named: () => true },
}).createMachine({
  id: 'game',
  initial: 'lobby',
  states: {
    lobby: { on: { login: { target: 'room', guard: 'named' }, say: {} } },
    room: {
      initial: 'waiting',
      on: { quit: 'gone' },
      states: {
        waiting: { on: { play: 'playing' }, after: { 500: 'idle' } },
        playing: { on: { pause: 'saving' } },
        saving: { tags: ['busy'], invoke: { src: 'save', onDone: 'waiting', onError: '#game.gone' } },
        idle: { always: { target: 'waiting', guard: ({ context }) => context === undefined } },
      },
    },
    gone: { type: 'final' },
  },
});

const inside = (inner: DiagramBox, outer: DiagramBox): boolean =>
  inner.x >= outer.x && inner.y >= outer.y && inner.x + inner.w <= outer.x + outer.w && inner.y + inner.h <= outer.y + outer.h;
const overlap = (a: DiagramBox, b: DiagramBox): boolean => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

function checkLayout(d: MachineDiagram): void {
  const byPath = new Map(d.states.map((s) => [s.path, s]));
  for (const s of d.states) {
    expect(inside(s.box, { x: 0, y: 0, w: d.width, h: d.height }), s.path).toBe(true);
    if (s.parent !== null) expect(inside(s.box, (byPath.get(s.parent) as { box: DiagramBox }).box), `${s.path} in its parent`).toBe(true);
    for (const t of d.states) {
      const nested = s === t || s.path.startsWith(`${t.path}.`) || t.path.startsWith(`${s.path}.`);
      if (!nested) expect(overlap(s.box, t.box), `${s.path} / ${t.path}`).toBe(false);
    }
  }
  for (const e of d.edges) {
    expect(byPath.has(e.source) && byPath.has(e.target)).toBe(true);
    expect(e.d).toMatch(/^M[\d.]+ [\d.]+[HVQ\d. ]+$/);
    expect(e.lx).toBeLessThan(d.width);
  }
}

describe('describeMachine', () => {
  it('derives states (paths, parents, depth, type, initial, tags) from the definition', () => {
    const d = describeMachine(game);
    expect(d.id).toBe('game');
    expect(d.initial).toBe('lobby');
    expect(d.states.map((s) => [s.path, s.parent, s.depth, s.type, s.initial])).toEqual([
      ['lobby', null, 0, 'atomic', null],
      ['room', null, 0, 'compound', 'room.waiting'],
      ['room.waiting', 'room', 1, 'atomic', null],
      ['room.playing', 'room', 1, 'atomic', null],
      ['room.saving', 'room', 1, 'atomic', null],
      ['room.idle', 'room', 1, 'atomic', null],
      ['gone', null, 0, 'final', null],
    ]);
    expect(d.states.find((s) => s.path === 'room.saving')?.tags).toEqual(['busy']);
  });

  it('derives transitions from on, after, invoke onDone/onError and always, with guards and targetless ones', () => {
    const d = describeMachine(game);
    expect(d.transitions.map((t) => [t.source, t.target, t.kind, t.guard, t.label])).toEqual([
      ['lobby', 'room', 'event', 'named', 'login [named]'],
      ['lobby', null, 'event', null, 'say'],
      ['room', 'gone', 'event', null, 'quit'],
      ['room.waiting', 'room.playing', 'event', null, 'play'],
      ['room.waiting', 'room.idle', 'after', null, 'after 500ms'],
      ['room.playing', 'room.saving', 'event', null, 'pause'],
      ['room.saving', 'room.waiting', 'done', null, 'done: save'],
      ['room.saving', 'gone', 'error', null, 'error: save'],
      ['room.idle', 'room.waiting', 'always', 'guard', 'always [guard]'],
    ]);
    expect(d.transitions.find((t) => t.kind === 'always')?.event).toBe('');
    expect(d.transitions.find((t) => t.kind === 'done')?.event).toMatch(/^xstate\.done\.actor\./);
  });

  it('lays the app machine out: nested boxes, no overlaps, one arrow per pair of states, targetless ones not drawn', () => {
    const d = describeMachine(game);
    checkLayout(d);
    const pairs = d.edges.map((e) => `${e.source}>${e.target}`);
    expect(pairs.sort()).toEqual(
      ['lobby>room', 'room>gone', 'room.waiting>room.playing', 'room.waiting>room.idle', 'room.playing>room.saving', 'room.saving>room.waiting', 'room.saving>gone', 'room.idle>room.waiting'].sort(),
    );
    // Neighbours on the spine get a straight arrow; a back edge is an arc on the right.
    expect(d.edges.find((e) => e.source === 'lobby')?.d).toMatch(/^M[\d.]+ [\d.]+V[\d.]+$/);
    const back = d.edges.find((e) => e.source === 'room.saving' && e.target === 'room.waiting');
    expect(back?.d).toContain('Q');
    expect(d.initials.map((i) => i.target)).toEqual(['lobby', 'room.waiting']);
  });

  it("describes the connection machine: every lifecycle state is one of its states, and the runtime's transitions", () => {
    const d = describeMachine(connectionMachine);
    checkLayout(d);
    const paths = d.states.map((s) => s.path);
    expect(paths).toEqual(['handshaking', 'handshaking.deciding', 'handshaking.upgrading', 'open', 'open.opening', 'open.ready', 'closing', 'closing.draining', 'closing.notifying', 'closed']);
    for (const state of LIFECYCLE_STATES) expect(paths).toContain(state);
    const labels = (source: string, target: string): string[] => d.transitions.filter((t) => t.source === source && t.target === target).map((t) => t.label);
    expect(labels('handshaking', 'closed')).toEqual(['conn.handshake.rejected', 'conn.socket.gone']);
    expect(labels('handshaking.deciding', 'handshaking.upgrading')).toEqual(['conn.handshake.accepted']);
    expect(labels('handshaking.deciding', 'open')).toEqual(['conn.upgraded [acceptsAtOnce]']);
    expect(labels('open', 'closing')).toEqual(['conn.close.begin', 'conn.hook.failed']);
    expect(labels('closing.notifying', 'closed')).toEqual(['conn.closed', 'always [closesAtOnce]']);
    // The peer-wins candidates and the child-machine relays have no target: listed, not drawn.
    expect(d.transitions.filter((t) => t.target === null).map((t) => `${t.source}:${t.label}`)).toContain('open:conn.close.begin [peerCloseWins]');
    expect(d.edges).toHaveLength(new Set(d.transitions.filter((t) => t.target !== null && t.source !== '').map((t) => `${t.source}>${t.target}`)).size);
  });
});

describe('statePaths', () => {
  const known = new Set(['a', 'a.b', 'a.b.c', 'p', 'p.x', 'p.x.one', 'p.y', 'p.y.two', 'q']);
  it('gives a state value with its ancestors; parallel regions resolve against the previous part', () => {
    expect(statePaths('a.b.c', known)).toEqual(['a', 'a.b', 'a.b.c']);
    expect(statePaths('p.x.one,y.two', known)).toEqual(['p', 'p.x', 'p.x.one', 'p.y', 'p.y.two']);
    expect(statePaths('nope', known)).toEqual([]);
  });
});

describe('live counts on the diagrams', () => {
  let view: LiveView | null = null;

  function fixture(): { view: LiveView; conn(id: number, to: LifecycleState): void; app(id: number, to: string): void } {
    const lifecycle = new LifecycleStream({ error: () => undefined, warn: () => undefined });
    const created = createLiveView({ lifecycle, state: 'running', clientMachine: { machine: game } }, { maxTransitions: 3 });
    view = created;
    const lastConn = new Map<number, LifecycleState>();
    const lastApp = new Map<number, string>();
    return {
      view: created,
      conn: (clientId, to) => {
        lifecycle.emit({ kind: 'connection', clientId, from: lastConn.get(clientId) ?? null, to, at: 1, hook: null, closeCode: null, closeReason: null, outcome: to === 'closed' ? 'closed' : null, status: null });
        lastConn.set(clientId, to);
      },
      app: (clientId, to) => {
        lifecycle.emit({ kind: 'client-machine', clientId, from: lastApp.get(clientId) ?? null, to, at: 2 });
        lastApp.set(clientId, to);
      },
    };
  }

  const opened = (f: ReturnType<typeof fixture>, id: number): void => {
    for (const to of ['handshaking', 'handshaking.upgrading', 'open.opening', 'open.ready'] as const) f.conn(id, to);
  };

  it('counts clients per app state, a compound state once per client inside it, until their onClose', async () => {
    const f = fixture();
    const appCounts = (): Record<string, number> | null => f.view.snapshot().machineCounts.app;
    expect(appCounts()).toEqual({ lobby: 0, room: 0, 'room.waiting': 0, 'room.playing': 0, 'room.saving': 0, 'room.idle': 0, gone: 0 });
    for (const id of [1, 2, 3]) {
      opened(f, id);
      f.app(id, 'lobby');
    }
    expect(appCounts()).toMatchObject({ lobby: 3, room: 0 });
    f.app(1, 'room.waiting');
    f.app(2, 'room.waiting');
    f.app(2, 'room.playing');
    expect(appCounts()).toMatchObject({ lobby: 1, room: 2, 'room.waiting': 1, 'room.playing': 1 });
    f.app(1, 'gone'); // final: still counted until the connection reaches onClose
    expect(appCounts()).toMatchObject({ room: 1, 'room.waiting': 0, gone: 1 });
    f.conn(1, 'closing.draining');
    expect(appCounts()).toMatchObject({ gone: 1 });
    f.conn(1, 'closing.notifying');
    expect(appCounts()).toMatchObject({ gone: 0 });
    f.conn(2, 'closing.draining');
    f.conn(2, 'closing.notifying');
    f.app(2, 'gone'); // the close event's transition, as the actor stops: not counted
    f.conn(2, 'closed');
    f.conn(1, 'closed');
    expect(appCounts()).toEqual({ lobby: 1, room: 0, 'room.waiting': 0, 'room.playing': 0, 'room.saving': 0, 'room.idle': 0, gone: 0 });
    f.app(99, 'lobby'); // a client the view never saw connect
    expect(appCounts()).toMatchObject({ lobby: 1 });

    // The rows: the app state and its own bounded timeline, ordered with the connection's.
    const [c1, c2, c3] = f.view.snapshot().clients;
    expect(c1).toMatchObject({ appState: 'gone', appTransitions: 3 });
    expect(c2?.appState).toBe('gone');
    expect(c2?.appTimeline.map((t) => t.to)).toEqual(['room.waiting', 'room.playing', 'gone']);
    expect(c3).toMatchObject({ appState: 'lobby', appTimeline: [{ from: null, to: 'lobby' }] });
    const ready = c3?.timeline.find((t) => t.to === 'open.ready')?.seq ?? Infinity;
    expect(c3?.appTimeline[0]?.seq).toBeGreaterThan(ready);
    await view?.close();
  });

  it('maps the lifecycle counts onto the connection diagram (compound states sum their children)', async () => {
    const f = fixture();
    opened(f, 1);
    opened(f, 2);
    f.conn(3, 'handshaking');
    f.conn(2, 'closing.draining');
    const counts = f.view.snapshot().machineCounts.connection;
    expect(counts).toEqual({
      handshaking: 1,
      'handshaking.deciding': 1,
      'handshaking.upgrading': 0,
      open: 1,
      'open.opening': 0,
      'open.ready': 1,
      closing: 1,
      'closing.draining': 1,
      'closing.notifying': 0,
      closed: 0,
    });
    await view?.close();
  });

  it('sends the diagrams in the snapshot and the counts with every update; a source without a machine has no app diagram', async () => {
    const lifecycle = new LifecycleStream({ error: () => undefined, warn: () => undefined });
    view = createLiveView({ lifecycle, state: 'running' });
    const snap = view.snapshot();
    expect(snap.machines.app).toBeNull();
    expect(snap.machineCounts.app).toBeNull();
    expect(snap.machines.connection.id).toBe('connection');
    const html = renderLiveViewPage(snap, '/_wsactor', 'n0nce');
    expect(html).toContain('id="diagram-connection"');
    expect(html).not.toContain('id="diagram-app"');
    expect(html).not.toContain('<th>app state</th>');
    await view.close();
  });
});

describe('the page with an app machine', () => {
  it('escapes app-controlled state names and labels in the diagram and the rows; still one script element', async () => {
    const evil = '<img src=x onerror="window.__pwned=1">';
    const hostile = setup({ types: { events: {} as { type: '<b>go</b>' } } }).createMachine({
      id: 'm&"<',
      initial: evil,
      states: { [evil]: { on: { '<b>go</b>': 'b' } }, b: {} },
    });
    const lifecycle = new LifecycleStream({ error: () => undefined, warn: () => undefined });
    const view = createLiveView({ lifecycle, state: 'running', clientMachine: { machine: hostile } });
    for (const to of ['handshaking', 'handshaking.upgrading', 'open.opening', 'open.ready'] as const) {
      lifecycle.emit({ kind: 'connection', clientId: 1, from: null, to, at: 1, hook: null, closeCode: null, closeReason: null, outcome: null, status: null });
    }
    lifecycle.emit({ kind: 'client-machine', clientId: 1, from: null, to: evil, at: 2 });
    expect(view.snapshot().machineCounts.app?.[evil]).toBe(1);
    const html = renderLiveViewPage(view.snapshot(), '/_wsactor', 'n0nce');
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<b>');
    expect(html).toContain('&lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt;');
    expect(html).toContain('&lt;b&gt;go&lt;/b&gt;');
    expect(html).toContain('<th>app state</th>');
    expect(html).toContain('<td class="app"><span class="badge app">&lt;img');
    expect(html.match(/<script/g)).toHaveLength(1);
    await view.close();
  });
});
