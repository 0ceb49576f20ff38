/**
 * State diagrams of XState machines for the live view. `describeMachine` derives a JSON
 * description from a machine's definition (`machine.root` and every state node's
 * transitions: `on`, `after`, `onDone`, `invoke.onDone/onError`, `always`) and lays it out:
 * states as nested boxes stacked top to bottom on one vertical spine (a compound state's
 * children inside it), a transition between two boxes with nothing in between as a straight
 * arrow down the spine, every other one as an arc on the right with its labels beside it.
 * The page draws SVG from this JSON (no library, nothing fetched); the live counts travel
 * separately, keyed by state path.
 */
import type { AnyStateMachine, AnyStateNode } from 'xstate';

export type DiagramStateType = 'atomic' | 'compound' | 'parallel' | 'final' | 'history';

/** A box of the diagram, in SVG user units. */
export interface DiagramBox {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}

/** One state node (the machine's root is not one). */
export interface DiagramState {
  /** Dotted path from the root, as in `getInfo(id).machine_state` and the lifecycle stream (`open.ready`). */
  readonly path: string;
  readonly key: string;
  /** Path of the parent state; null for a top-level state. */
  readonly parent: string | null;
  /** 0 for a top-level state. */
  readonly depth: number;
  readonly type: DiagramStateType;
  /** A compound state's initial child (its path). */
  readonly initial: string | null;
  readonly tags: readonly string[];
  readonly box: DiagramBox;
}

export type DiagramTransitionKind = 'event' | 'always' | 'after' | 'done' | 'error' | 'snapshot';

/** One transition of the definition (a transition with several targets gives one per target). */
export interface DiagramTransition {
  /** Path of the state it is defined on; '' for the machine's root. */
  readonly source: string;
  /** Path of its target; null for a targetless transition (actions only), which is not drawn. */
  readonly target: string | null;
  /** The event descriptor as in the machine ('' for `always`). */
  readonly event: string;
  readonly kind: DiagramTransitionKind;
  /** The guard's name (a named guard's type, a function's name), or null. */
  readonly guard: string | null;
  /** What the diagram writes on its arrow: `login`, `always [ready]`, `after 500ms`, `done: save`. */
  readonly label: string;
}

/** A drawn arrow: every transition between the same two states, with its geometry. */
export interface DiagramEdge {
  readonly source: string;
  readonly target: string;
  /** SVG path data; the arrowhead is at its end. */
  readonly d: string;
  readonly labels: readonly string[];
  /** Where the first label line's baseline starts (text-anchor start). */
  readonly lx: number;
  readonly ly: number;
}

/** The small dot and arrow that mark an initial state. */
export interface DiagramInitial {
  readonly target: string;
  readonly cx: number;
  readonly cy: number;
  readonly d: string;
}

/** What the live view sends the page for one machine. */
export interface MachineDiagram {
  readonly id: string;
  /** The root's initial state (its path). */
  readonly initial: string | null;
  /** Document order: a parent before its children. */
  readonly states: readonly DiagramState[];
  readonly transitions: readonly DiagramTransition[];
  readonly width: number;
  readonly height: number;
  readonly edges: readonly DiagramEdge[];
  readonly initials: readonly DiagramInitial[];
}

// Geometry, in px of the page's fonts: 12px monospace state names, 11px monospace labels.
const NAME_CHAR = 7.3;
const LABEL_CHAR = 6.7;
const LINE = 13;
const BOX_H = 30;
const HEADER = 26;
/** Room on the left of a compound's children for an initial-state dot. */
const PAD_X = 26;
const PAD_BOTTOM = 12;
const GAP = 36;
/** The count pill at the right of a state's name. */
export const PILL_W = 40;
const MARGIN = 12;
const LEVEL_GAP = 18;
const MAX_NAME = 28;
const MAX_LABEL = 36;

/** Shortens text for the drawing (the JSON keeps it whole). */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Derives the description of `machine` and lays it out. */
export function describeMachine(machine: AnyStateMachine): MachineDiagram {
  const root = machine.root as AnyStateNode;
  const nodes: AnyStateNode[] = [];
  const walk = (node: AnyStateNode): void => {
    for (const child of Object.values(node.states) as AnyStateNode[]) {
      nodes.push(child);
      walk(child);
    }
  };
  walk(root);
  const transitions: DiagramTransition[] = [];
  for (const node of [root, ...nodes]) transitions.push(...transitionsOf(node));
  return layout(machine.id, root, nodes, transitions);
}

const pathOf = (node: AnyStateNode): string => node.path.join('.');

function initialOf(node: AnyStateNode): string | null {
  if (node.type !== 'compound') return null;
  const [target] = node.initial.target as readonly AnyStateNode[];
  return target === undefined ? null : pathOf(target);
}

function guardName(guard: unknown): string | null {
  if (guard === undefined || guard === null) return null;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') return guard.name || 'guard';
  if (typeof guard === 'object' && typeof (guard as { type?: unknown }).type === 'string') return (guard as { type: string }).type;
  return 'guard';
}

interface RawTransition {
  readonly eventType: string;
  readonly target?: readonly AnyStateNode[] | undefined;
  readonly guard?: unknown;
  readonly delay?: unknown;
}

function transitionsOf(node: AnyStateNode): DiagramTransition[] {
  const source = pathOf(node);
  const invokes = new Map(node.invoke.map((i) => [i.id, i.src]));
  const out: DiagramTransition[] = [];
  const add = (t: RawTransition, always: boolean): void => {
    const { kind, text } = always ? { kind: 'always' as const, text: 'always' } : eventOf(node, t, invokes);
    const guard = guardName(t.guard);
    const label = guard === null ? text : `${text} [${guard}]`;
    const targets = t.target === undefined || t.target.length === 0 ? [null] : t.target.map(pathOf);
    for (const target of targets) out.push({ source, target, event: always ? '' : t.eventType, kind, guard, label });
  };
  for (const list of node.transitions.values()) for (const t of list as RawTransition[]) add(t, false);
  for (const t of (node.always ?? []) as RawTransition[]) add(t, true);
  return out;
}

function eventOf(node: AnyStateNode, t: RawTransition, invokes: Map<string, unknown>): { kind: DiagramTransitionKind; text: string } {
  const e = t.eventType;
  if (t.delay !== undefined && e.startsWith('xstate.after.')) {
    return { kind: 'after', text: `after ${typeof t.delay === 'number' ? `${t.delay}ms` : typeof t.delay === 'string' ? t.delay : 'delay'}` };
  }
  if (e === `xstate.done.state.${node.id}`) return { kind: 'done', text: 'done' };
  for (const [prefix, kind] of [
    ['xstate.done.actor.', 'done'],
    ['xstate.error.actor.', 'error'],
    ['xstate.snapshot.', 'snapshot'],
  ] as const) {
    if (!e.startsWith(prefix)) continue;
    const id = e.slice(prefix.length);
    if (!invokes.has(id)) break;
    const src = invokes.get(id);
    return { kind, text: typeof src === 'string' && !src.startsWith('xstate.') ? `${kind}: ${src}` : kind };
  }
  return { kind: 'event', text: e };
}

interface Sized {
  readonly node: AnyStateNode;
  readonly w: number;
  readonly h: number;
  readonly children: Sized[];
}

const nameWidth = (key: string): number => 12 + clip(key, MAX_NAME).length * NAME_CHAR + 10 + PILL_W + 6;

function measure(node: AnyStateNode): Sized {
  const children = (Object.values(node.states) as AnyStateNode[]).map(measure);
  if (children.length === 0) return { node, w: nameWidth(node.key), h: BOX_H, children };
  const inner = Math.max(...children.map((c) => c.w));
  const h = HEADER + children.reduce((sum, c) => sum + c.h, 0) + GAP * (children.length - 1) + PAD_BOTTOM;
  return { node, w: Math.max(inner + 2 * PAD_X, nameWidth(node.key)), h, children };
}

const round = (n: number): number => Math.round(n * 10) / 10;

function layout(id: string, root: AnyStateNode, nodes: AnyStateNode[], transitions: DiagramTransition[]): MachineDiagram {
  const initial = initialOf(root);
  const top = (Object.values(root.states) as AnyStateNode[]).map(measure);
  const widest = Math.max(0, ...top.map((s) => s.w));
  const spine = round(MARGIN + PAD_X + widest / 2);
  const boxes = new Map<string, DiagramBox>();
  const place = (s: Sized, y: number): void => {
    boxes.set(pathOf(s.node), { x: round(spine - s.w / 2), y: round(y), w: round(s.w), h: s.h });
    let cy = y + HEADER;
    for (const child of s.children) {
      place(child, cy);
      cy += child.h + GAP;
    }
  };
  let y = MARGIN;
  for (const s of top) {
    place(s, y);
    y += s.h + GAP;
  }
  const height = top.length === 0 ? 2 * MARGIN : round(y - GAP + MARGIN);

  const states: DiagramState[] = nodes.map((node) => ({
    path: pathOf(node),
    key: node.key,
    parent: node.parent === undefined || node.parent.path.length === 0 ? null : pathOf(node.parent),
    depth: node.path.length - 1,
    type: node.type,
    initial: initialOf(node),
    tags: [...node.tags],
    box: boxes.get(pathOf(node)) as DiagramBox,
  }));
  const byPath = new Map(states.map((s) => [s.path, s]));
  const anchorY = (s: DiagramState): number => (s.type === 'compound' || s.type === 'parallel' ? s.box.y + HEADER / 2 : s.box.y + s.box.h / 2);

  // One arrow per (source, target) pair, labels in definition order; the root's are not drawn.
  const groups = new Map<string, { source: DiagramState; target: DiagramState; labels: string[] }>();
  for (const t of transitions) {
    const source = byPath.get(t.source);
    const target = t.target === null ? undefined : byPath.get(t.target);
    if (source === undefined || target === undefined) continue;
    const key = `${t.source}\n${t.target}`;
    const group = groups.get(key) ?? { source, target, labels: [] };
    groups.set(key, group);
    const label = clip(t.label, MAX_LABEL);
    if (!group.labels.includes(label)) group.labels.push(label);
  }

  const edges: DiagramEdge[] = [];
  const arcs: { source: DiagramState; target: DiagramState; labels: string[]; y1: number; y2: number; lo: number; hi: number }[] = [];
  let right = Math.max(0, ...states.map((s) => s.box.x + s.box.w));
  const labelWidth = (labels: readonly string[]): number => Math.max(...labels.map((l) => l.length * LABEL_CHAR));
  const related = (a: string, b: string): boolean => a === b || a.startsWith(`${b}.`) || b.startsWith(`${a}.`);
  for (const { source, target, labels } of groups.values()) {
    const from = source.box.y + source.box.h;
    const to = target.box.y;
    const clear = !related(source.path, target.path) && to >= from && !states.some((s) => s.box.y >= from - 0.5 && s.box.y + s.box.h <= to + 0.5);
    if (clear && labels.length * LINE + 6 <= to - from) {
      const lx = round(spine + 8);
      edges.push({ source: source.path, target: target.path, d: `M${spine} ${round(from)}V${round(to)}`, labels, lx, ly: round((from + to) / 2 - (labels.length * LINE) / 2 + LINE - 3) });
      right = Math.max(right, lx + labelWidth(labels));
      continue;
    }
    let y1 = anchorY(source);
    let y2 = anchorY(target);
    if (source === target) {
      y1 -= 6;
      y2 += 6;
    }
    const mid = (y1 + y2) / 2;
    const half = (labels.length * LINE) / 2;
    arcs.push({ source, target, labels, y1, y2, lo: Math.min(y1, y2, mid - half), hi: Math.max(y1, y2, mid + half) });
  }

  // Arcs on the right, nested: the shortest nearest the boxes; overlapping ones on separate levels.
  arcs.sort((a, b) => a.hi - a.lo - (b.hi - b.lo));
  const levels: { spans: [number, number][]; width: number }[] = [];
  const levelOf = new Map<(typeof arcs)[number], number>();
  for (const arc of arcs) {
    let k = levels.findIndex((level) => level.spans.every(([lo, hi]) => arc.hi + 4 < lo || arc.lo - 4 > hi));
    if (k < 0) k = levels.push({ spans: [], width: 0 }) - 1;
    const level = levels[k] as (typeof levels)[number];
    level.spans.push([arc.lo, arc.hi]);
    level.width = Math.max(level.width, labelWidth(arc.labels));
    levelOf.set(arc, k);
  }
  const xs: number[] = [];
  let x = right + LEVEL_GAP;
  for (const level of levels) {
    xs.push(round(x));
    x += 6 + level.width + LEVEL_GAP;
  }
  for (const arc of arcs) {
    const X = xs[levelOf.get(arc) as number] as number;
    const x1 = round(arc.source.box.x + arc.source.box.w);
    const x2 = round(arc.target.box.x + arc.target.box.w);
    const down = arc.y2 >= arc.y1 ? 1 : -1;
    const r = Math.min(8, Math.abs(arc.y2 - arc.y1) / 2);
    const [y1, y2] = [round(arc.y1), round(arc.y2)];
    const d = `M${x1} ${y1}H${round(X - r)}Q${X} ${y1} ${X} ${round(y1 + down * r)}V${round(y2 - down * r)}Q${X} ${y2} ${round(X - r)} ${y2}H${x2}`;
    const mid = (arc.y1 + arc.y2) / 2;
    edges.push({ source: arc.source.path, target: arc.target.path, d, labels: arc.labels, lx: round(X + 6), ly: round(mid - (arc.labels.length * LINE) / 2 + LINE - 3) });
  }
  const width = round(levels.length === 0 ? right + MARGIN : x - LEVEL_GAP + MARGIN);

  // Initial-state markers: the root's initial and each compound state's.
  const initials: DiagramInitial[] = [];
  for (const path of [initial, ...states.map((s) => s.initial)]) {
    const s = path === null ? undefined : byPath.get(path);
    if (s === undefined) continue;
    const cy = round(anchorY(s));
    const cx = round(s.box.x - 17);
    initials.push({ target: s.path, cx, cy, d: `M${round(cx + 4)} ${cy}H${s.box.x}` });
  }
  return { id, initial, states, transitions, width, height, edges, initials };
}

/**
 * The paths a state value names (as the lifecycle stream writes it: `room.playing`, or
 * `p.a.x,b.y` for parallel regions), with their ancestors, restricted to `known`.
 */
export function statePaths(value: string, known: ReadonlySet<string>): string[] {
  const out = new Set<string>();
  let previous: string[] = [];
  for (const part of value.split(',')) {
    let full = part;
    // After the first, each part is relative to an ancestor of the previous one (a parallel state).
    for (let i = previous.length - 1; i >= 1; i--) {
      const candidate = `${previous.slice(0, i).join('.')}.${part}`;
      if (known.has(candidate)) {
        full = candidate;
        break;
      }
    }
    const segments = full.split('.');
    for (let i = 1; i <= segments.length; i++) {
      const path = segments.slice(0, i).join('.');
      if (known.has(path)) out.add(path);
    }
    previous = segments;
  }
  return [...out];
}
