/**
 * Property tests of the lifecycle contract (docs/lifecycle.md) against real sockets on
 * 127.0.0.1. Reproduce a failure with FC_SEED=<seed> (and FC_PATH=<path>) from its report.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkScenario } from './invariants.js';
import { runScenario } from './run-scenario.js';
import { scenarioArbitrary, type Scenario } from './scenario.js';

const seed = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED);
const path = process.env.FC_PATH;
const runs = Number(process.env.FC_RUNS ?? 0);

async function holds(scenario: Scenario): Promise<void> {
  const result = await runScenario(scenario);
  const violations = checkScenario(scenario, result);
  expect(violations, JSON.stringify(result.records.slice(0, 80))).toEqual([]);
}

function assertProperty(arbitrary: fc.Arbitrary<Scenario>, numRuns: number): Promise<void> {
  return fc.assert(fc.asyncProperty(arbitrary, holds), {
    numRuns: runs > 0 ? runs : numRuns,
    ...(seed === undefined ? {} : { seed }),
    ...(path === undefined ? {} : { path }),
    endOnFailure: true,
    verbose: 1,
  });
}

describe('lifecycle contract on real sockets', () => {
  it('holds C1-C5 and S1-S3 for generated scenarios (one onData at a time)', async () => {
    await assertProperty(scenarioArbitrary(), 200);
  }, 240_000);

  it('keeps order and bounds overlap with the opt-in per-client concurrency', async () => {
    await assertProperty(scenarioArbitrary({ concurrency: fc.integer({ min: 2, max: 4 }) }), 40);
  }, 120_000);
});
