/**
 * `npm run bench [-- --quick]`: measures wsactor against a minimal raw `ws` server (and a
 * plain TCP echo as the ceiling) with load generators in separate processes, alternating
 * the servers round by round. Prints progress, then a table; writes bench/results/latest.json.
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { buildJs } from './lib/build.js';
import { parseConfig, type ScenarioName } from './lib/config.js';
import { Results } from './lib/report.js';
import { runChurn } from './scenarios/churn.js';
import type { Context } from './scenarios/common.js';
import { runEcho } from './scenarios/echo.js';
import { runIdle } from './scenarios/idle.js';
import { runMachine } from './scenarios/machine.js';
import { runStorm } from './scenarios/storm.js';

const RUNNERS: Record<ScenarioName, (ctx: Context) => Promise<void>> = { echo: runEcho, churn: runChurn, idle: runIdle, machine: runMachine, storm: runStorm };

async function main(): Promise<void> {
  const config = parseConfig(process.argv.slice(2));
  const started = performance.now();
  const ctx: Context = {
    config,
    results: new Results(),
    log: (line) => {
      const seconds = ((performance.now() - started) / 1000).toFixed(1).padStart(6);
      console.log(`[${seconds}s] ${line}`);
    },
  };
  const load = (): string => loadavg()[0]?.toFixed(2) ?? '?';
  ctx.log(`wsactor bench (${config.quick ? 'quick' : 'full'}): ${config.scenarios.join(', ')}; Node ${process.version}; load ${load()}`);
  buildJs();
  ctx.log('compiled servers and load generators to bench/results/raw/js/');
  const loadBefore = load();
  for (const name of config.scenarios) await RUNNERS[name](ctx);

  const seconds = (performance.now() - started) / 1000;
  const loadAfter = load();
  console.log(`\nratio = wsactor / raw ws, medians of ${config.rounds} round(s); ${seconds.toFixed(0)} s in all; load average ${loadBefore} -> ${loadAfter}\n`);
  console.log(ctx.results.table());
  const misses = ctx.results.rows().filter((r) => r.pass === false);
  console.log(misses.length === 0 ? '\nall targets met' : `\n${misses.length} target(s) missed: ${misses.map((r) => r.label).join('; ')}`);
  const { scenarios, quick, rounds, echoMs, churnMs, idleConns, machinePings, stormConns } = config;
  ctx.results.write(config.out, {
    mode: quick ? 'quick' : 'full',
    ...{ scenarios, rounds, echoMs, churnMs, idleConns, machinePings, stormConns },
    seconds: Math.round(seconds),
    loadAverage: { before: Number(loadBefore), after: Number(loadAfter) },
  });
  console.log(`results written to ${config.out}`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
