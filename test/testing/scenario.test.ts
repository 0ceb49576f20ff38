/**
 * The scenario generator's opt-in shapes: `sessions` (each user connects before it does
 * anything, at most one stop) and a `concurrency` drawn per scenario; without them a scenario
 * has neither field, so seeds found before replay the same steps.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { scenarioArbitrary, type ScenarioShape } from '../../src/testing/scenario.js';

const shape: ScenarioShape = {
  messages: fc.string({ maxLength: 4 }),
  connect: fc.constant({}),
  maxClients: 3,
  maxSteps: 24,
  maxHookDelayMs: 10,
  stopSteps: true,
};

describe('scenarioArbitrary', () => {
  it('sessions: each user connects first, at most one stop, some connects overlap; concurrency is drawn', () => {
    const scenarios = fc.sample(scenarioArbitrary(fc, { ...shape, sessions: true, concurrency: fc.integer({ min: 2, max: 4 }) }), { numRuns: 200, seed: 1 });
    for (const { steps, concurrency } of scenarios) {
      expect(concurrency).toBeGreaterThanOrEqual(2);
      expect(concurrency).toBeLessThanOrEqual(4);
      expect(steps.filter((s) => s.kind === 'stop').length).toBeLessThanOrEqual(1);
      const seen = new Set<number>();
      for (const step of steps) {
        if (!('client' in step)) continue;
        if (!seen.has(step.client)) expect(step.kind).toBe('connect');
        seen.add(step.client);
      }
      // Clients are numbered 1, 2, ... in order of appearance.
      expect([...seen]).toEqual([...seen].map((_, i) => i + 1));
    }
    const steps = scenarios.flatMap((s) => s.steps);
    expect(steps.filter((s) => s.kind === 'send').length).toBeGreaterThan(steps.filter((s) => s.kind === 'connect').length);
    expect(steps.some((s) => s.kind === 'connect' && s.overlap === true)).toBe(true);
  });

  it('by default: no concurrency field and no overlapping connects', () => {
    for (const scenario of fc.sample(scenarioArbitrary(fc, shape), { numRuns: 100, seed: 1 })) {
      expect('concurrency' in scenario).toBe(false);
      expect(scenario.steps.some((s) => s.kind === 'connect' && 'overlap' in s)).toBe(false);
    }
  });
});
