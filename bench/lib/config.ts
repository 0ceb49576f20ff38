/** Command-line options of `npm run bench` and the durations of the full and quick modes. */
import { parseArgs } from 'node:util';

export const SCENARIOS = ['echo', 'churn', 'idle', 'machine', 'storm'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface Config {
  quick: boolean;
  /** Rounds per server kind; each metric is the median over rounds. */
  rounds: number;
  warmupMs: number;
  /** Measured window of each echo case. */
  echoMs: number;
  /** Echo client processes for the 50-connection cases. */
  echoClients: number;
  churnMs: number;
  churnClients: number;
  /** Concurrent connect/close loops per churn client process. */
  churnConcurrency: number;
  /** Idle connections for the memory and fan-out scenario. */
  idleConns: number;
  /** Holder processes sharing the idle (and the storm's) connections (each stays far below 20k files). */
  holders: number;
  /** Single broadcasts timed one by one (median taken). */
  fanoutSingles: number;
  /** Back-to-back broadcasts for the sustained rate. */
  fanoutBurst: number;
  /** Machine scenario: clients (of the idle ones) sent one message hibernated, one live. */
  machinePings: number;
  /** Machine scenario: clients per batch (both messages of a batch go out within ~250 ms). */
  machineBatch: number;
  /** Reconnect storm: clients that all connect at once to a fresh server. */
  stormConns: number;
  scenarios: ScenarioName[];
  /** Write a V8 CPU profile of every server process to bench/results/raw/. */
  cpuProf: boolean;
  /** Write a heap snapshot of each server at the memory measurement to bench/results/raw/. */
  heapSnapshot: boolean;
  out: string;
}

const FULL: Omit<Config, 'scenarios' | 'cpuProf' | 'heapSnapshot' | 'out' | 'quick'> = {
  rounds: 3,
  warmupMs: 1000,
  echoMs: 3000,
  echoClients: 1,
  churnMs: 5000,
  churnClients: 1,
  churnConcurrency: 32,
  idleConns: 10_000,
  holders: 4,
  fanoutSingles: 7,
  fanoutBurst: 30,
  machinePings: 2000,
  machineBatch: 100,
  stormConns: 10_000,
};

const QUICK: typeof FULL = {
  ...FULL,
  rounds: 1,
  warmupMs: 300,
  echoMs: 800,
  churnMs: 1000,
  idleConns: 1000,
  holders: 2,
  fanoutSingles: 3,
  fanoutBurst: 10,
  machinePings: 300,
  stormConns: 1000,
};

const HELP = `usage: npm run bench -- [--quick] [--rounds N] [--seconds S] [--conns N] [--storm-conns N]
                        [--only echo,churn,idle,machine,storm] [--cpu-prof] [--heap-snapshot] [--out FILE]
  --quick      smoke run, well under a minute (1 round, short windows, 1k idle and storm connections)
  --rounds N   rounds per server (default 3; medians are reported)
  --seconds S  measured seconds per echo case and churn round
  --conns N    idle connections for memory, fan-out and machine (default 10000)
  --storm-conns N  clients of the reconnect storm, all connecting at once (default 10000)
  --clients N  echo and churn client processes (default 1)
  --only LIST  run only these scenarios
  --cpu-prof   write a CPU profile of every server process to bench/results/raw/
  --heap-snapshot  write a heap snapshot of each server holding the idle connections
  --out FILE   results file (default bench/results/latest.json)`;

export function parseConfig(argv: string[]): Config {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      seconds: { type: 'string' },
      conns: { type: 'string' },
      'storm-conns': { type: 'string' },
      clients: { type: 'string' },
      only: { type: 'string' },
      'cpu-prof': { type: 'boolean', default: false },
      'heap-snapshot': { type: 'boolean', default: false },
      out: { type: 'string', default: 'bench/results/latest.json' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const config: Config = {
    ...(values.quick ? QUICK : FULL),
    quick: values.quick,
    scenarios: [...SCENARIOS],
    cpuProf: values['cpu-prof'],
    heapSnapshot: values['heap-snapshot'],
    out: values.out,
  };
  const int = (text: string | undefined, name: string): number | undefined => {
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!(n > 0)) throw new Error(`--${name} needs a positive number`);
    return n;
  };
  config.rounds = Math.round(int(values.rounds, 'rounds') ?? config.rounds);
  const seconds = int(values.seconds, 'seconds');
  if (seconds !== undefined) config.echoMs = config.churnMs = seconds * 1000;
  config.idleConns = Math.round(int(values.conns, 'conns') ?? config.idleConns);
  config.stormConns = Math.round(int(values['storm-conns'], 'storm-conns') ?? config.stormConns);
  config.echoClients = config.churnClients = Math.round(int(values.clients, 'clients') ?? config.echoClients);
  if (values.only !== undefined) {
    const wanted = values.only.split(',');
    const unknown = wanted.filter((s) => !(SCENARIOS as readonly string[]).includes(s));
    if (unknown.length > 0) throw new Error(`unknown scenario(s): ${unknown.join(', ')}`);
    config.scenarios = SCENARIOS.filter((s) => wanted.includes(s));
  }
  return config;
}
