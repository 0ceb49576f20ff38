/**
 * The startup self-check of the `ws` and `xstate` internals wsactor relies on: it passes on
 * the installed versions and names what is missing when one changed. (What each internal
 * does for wsactor is pinned by the behaviour tests listed in src/runtime/ws-internals.ts.)
 */
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createActor, fromTransition } from 'xstate';
import { DependencyError, ErrorCodes } from '../../src/errors.js';
import { missingXStateInternals } from '../../src/runtime/actor-root.js';
import { missingWsInternals } from '../../src/runtime/ws-internals.js';

const require = createRequire(import.meta.url);
const receiverProto = (require('ws') as { Receiver: { prototype: Record<string, unknown> } }).Receiver.prototype;

const restore: (() => void)[] = [];
afterEach(() => {
  for (const undo of restore.splice(0)) undo();
});

function remove(target: Record<string, unknown>, name: string): void {
  const saved = Object.getOwnPropertyDescriptor(target, name);
  delete target[name];
  restore.push(() => {
    if (saved !== undefined) Object.defineProperty(target, name, saved);
  });
}

describe('library internals self-check', () => {
  it('finds every ws and xstate internal in the installed versions', () => {
    expect(missingWsInternals()).toEqual([]);
    expect(missingXStateInternals()).toEqual([]);
  });

  it('names a ws receiver step that is gone', () => {
    remove(receiverProto, 'getInfo');
    remove(receiverProto, 'haveLength');
    expect(missingWsInternals()).toEqual(['Receiver#haveLength()', 'Receiver#getInfo()']);
  });

  it("names XState's _stop when it is gone", () => {
    const proto = Object.getPrototypeOf(createActor(fromTransition((s: null) => s, null))) as Record<string, unknown>;
    remove(proto, '_stop');
    expect(missingXStateInternals()).toEqual(['Actor#_stop()']);
  });

  it('createServer fails loudly with a DependencyError naming the ws version and what is missing', async () => {
    vi.resetModules();
    const { createServer } = await import('../../src/index.js');
    remove(receiverProto, 'startLoop');
    const version = (require('ws/package.json') as { version: string }).version;
    let caught: unknown;
    try {
      createServer({});
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(Error);
    expect((caught as DependencyError).name).toBe('DependencyError');
    expect((caught as DependencyError).code).toBe(ErrorCodes.DEPENDENCY);
    expect((caught as DependencyError).message).toBe(
      `wsactor relies on internals of ws 8 (checked at startup) that ws ${version} lacks: Receiver#startLoop(). ` +
        'Install the ws version wsactor was released with (see its package.json) or upgrade wsactor.',
    );
  });
});
