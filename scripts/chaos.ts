// `npm run chaos -- --minutes N [--seed S] [--gateways K] [--workers W] [--clients C]`: the
// fault-injection suite's long randomised run (test/faults/). Needs the services of `npm test`
// (scripts/services.sh: FerretDB, Toxiproxy's binary, redis-server and nats-server). Writes
// test-results/chaos-<timestamp>.json and every process's output to test-results/chaos-<timestamp>/,
// prints a summary, and exits 1 on any anomaly.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runChaos, summarize, writeReport } from '../test/faults/chaos-run.js';
import { seedFromEnv } from '../test/faults/random.js';
import { saveHistory } from '../test/faults/run.js';

function intOption(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || n < min || n > max) throw new Error(`--${name} must be an integer from ${min} to ${max}, got "${value}"`);
  return n;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string' },
      seed: { type: 'string' },
      gateways: { type: 'string' },
      workers: { type: 'string' },
      clients: { type: 'string' },
    },
    strict: true,
  });
  const minutes = intOption('minutes', values.minutes, 10, 1, 24 * 60);
  const seed = seedFromEnv(values.seed ?? process.env['CHAOS_SEED']);
  const settings = {
    seed,
    runMs: minutes * 60_000,
    gateways: intOption('gateways', values.gateways, 3, 2, 8),
    workers: intOption('workers', values.workers, 2, 1, 4),
    clients: intOption('clients', values.clients, 8, 2, 50),
    log: (line: string) => console.log(`  ${line}`),
    logDir: join(process.cwd(), 'test-results', `chaos-${new Date().toISOString().replace(/[:.]/g, '-')}`),
  };
  console.log(`chaos: seed ${seed} (replay with --seed ${seed}), ${minutes} min under faults, ${settings.gateways} gateways, ${settings.workers} workers, ${settings.clients} clients`);
  const { report, result, tail } = await runChaos(settings);
  const file = writeReport(report);
  console.log(summarize(report));
  console.log(`report: ${file}\nprocess logs: ${settings.logDir}`);
  if (!report.ok) console.log(`history (to check again offline): ${saveHistory(result)}`);
  if (!report.ok && tail) console.log(`process output (tail):\n${tail}`);
  return report.ok ? 0 : 1;
}

// Exit through process.exit, so that the 'exit' backstops kill every server and process started.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error('chaos: the run failed:', err);
    process.exit(2);
  },
);
