// `npm run bench [-- --help] [--quick] [--scenario <name>[,<name>]] [--gens <n>] [--window <n>]`:
// side-by-side benchmarks.
// Each server runs in a child process of its own and is driven by separate load-generator
// processes over 127.0.0.1; the table goes to stdout, raw figures and ratios to bench/results/.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { killAll, ROOT } from './lib/children.js';
import { renderFigures, renderRatios, type BenchOptions, type Scenario, type ScenarioResult } from './lib/report.js';
import { bigroom } from './scenarios/bigroom.js';
import { burst } from './scenarios/burst.js';
import { chat } from './scenarios/chat.js';
import { cluster } from './scenarios/cluster.js';
import { fanout } from './scenarios/fanout.js';
import { hook } from './scenarios/hook.js';
import { idle } from './scenarios/idle.js';
import { idleMax } from './scenarios/idle-max.js';
import { latency } from './scenarios/latency.js';
import { persistence } from './scenarios/persistence.js';
import { storm } from './scenarios/storm.js';

const SCENARIOS: Scenario[] = [fanout, latency, idle, cluster, persistence, burst, chat, bigroom, idleMax, storm, hook];

/**
 * Default publisher window: enough unanswered sends that round trips on a busy 2-core machine
 * (milliseconds each) do not cap the rate below what the server can fan out.
 */
const WINDOW = 128;

const USAGE = `npm run bench [-- --quick] [--scenario <name>[,<name>]] [--gens <1-4>] [--window <1-10000>]
scenarios (in this order): ${SCENARIOS.map((s) => s.name).join(', ')}
figures go to stdout, raw results and ratios to bench/results/`;

function options(): { quick: boolean; only: string[]; gens: number; window: number } {
  const { values } = parseArgs({
    options: {
      help: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      scenario: { type: 'string', multiple: true },
      gens: { type: 'string' },
      window: { type: 'string' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const only = (values.scenario ?? []).flatMap((s) => s.split(','));
  const unknown = only.filter((s) => !SCENARIOS.some((x) => x.name === s));
  if (unknown.length > 0) {
    throw new Error(`unknown scenario ${unknown.join(', ')} (scenarios: ${SCENARIOS.map((s) => s.name).join(', ')})`);
  }
  const gens = values.gens === undefined ? 1 : Number(values.gens);
  if (!Number.isInteger(gens) || gens < 1 || gens > 4) throw new Error('--gens must be 1 to 4');
  const window = values.window === undefined ? WINDOW : Number(values.window);
  if (!Number.isInteger(window) || window < 1 || window > 10_000) throw new Error('--window must be 1 to 10000');
  return { quick: values.quick, only, gens, window };
}

function stamp(d: Date): string {
  return d.toISOString().replace(/\..*$/, 'Z').replace(/:/g, '-');
}

async function main(): Promise<void> {
  const { quick, only, gens, window } = options();
  const started = new Date();
  const opts: BenchOptions = { quick, gens, window, done: new Map() };
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model, node: process.version, loadavg: loadavg() };
  process.stdout.write(`parley bench${quick ? ' (quick)' : ''}: ${machine.cpus} cores, Node ${machine.node}, load ${machine.loadavg.map((l) => l.toFixed(2)).join(' ')}; ${gens} generator(s), window ${window}\n`);
  const results: ScenarioResult[] = [];
  const dir = `${ROOT}bench/results`;
  mkdirSync(dir, { recursive: true });
  for (const scenario of SCENARIOS) {
    if (only.length > 0 && !only.includes(scenario.name)) continue;
    process.stdout.write(`\n== ${scenario.name} ...\n`);
    const t0 = Date.now();
    // Figures on a shared machine mean little without how busy it was while they were taken.
    const loadStart = loadavg();
    let result: ScenarioResult;
    try {
      result = await scenario.run(opts);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      result = { scenario: scenario.name, rows: [], ratios: [], raw: { error: message }, note: `failed: ${message.split('\n')[0]}` };
    }
    opts.done.set(scenario.name, result);
    results.push(result);
    process.stdout.write(`${renderFigures([result])}\n(${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
    const file = { date: started.toISOString(), quick, gens, window, machine, loadavg: { start: loadStart, end: loadavg() }, ...result };
    writeFileSync(`${dir}/${scenario.name}-${stamp(started)}.json`, `${JSON.stringify(file, null, 2)}\n`);
  }
  const ratios = results.flatMap((r) => r.ratios);
  process.stdout.write(`\n${renderFigures(results)}\n\n${renderRatios(ratios)}\n`);
  const latest = { date: started.toISOString(), quick, gens, window, machine, loadavgAfter: loadavg(), ratios, scenarios: results };
  writeFileSync(`${dir}/latest.json`, `${JSON.stringify(latest, null, 2)}\n`);
  process.stdout.write(`\nwrote bench/results/latest.json and bench/results/<scenario>-${stamp(started)}.json\n`);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}
main().then(
  () => {
    killAll();
    process.exit(0);
  },
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    killAll();
    process.exit(1);
  },
);
