import { describe, expect, it } from 'vitest';
import { runChaos, summarize, writeReport } from './chaos-run.js';
import { seedFromEnv } from './random.js';
import { saveHistory } from './run.js';

// The short randomised run of `npm test`: three gateways, two persist workers, eight clients in
// three rooms, and about 90 s of faults one after another from a seeded schedule (every kind in
// faults.ts), then the history check. The seed is printed at the start and on failure;
// CHAOS_SEED=<seed> replays the schedule. `npm run chaos -- --minutes N` is the long version.

const RUN_MS = 90_000;
/** The schedule CI replays (14 faults of 11 kinds in 90 s). */
const CI_SEED = 12345;

describe('chaos (short run)', () => {
  it('a seeded fault schedule leaves no anomaly', async () => {
    // CI replays one schedule known to pass, so that a red CI means a regression; runs elsewhere
    // draw a new seed each time and explore (CHAOS_SEED replays any of them).
    const seed = seedFromEnv(process.env['CHAOS_SEED'] ?? (process.env['CI'] ? String(CI_SEED) : undefined));
    console.log(`chaos: seed ${seed} (replay with CHAOS_SEED=${seed})`);
    const { report, result, tail } = await runChaos({ seed, runMs: RUN_MS, gateways: 3, workers: 2, clients: 8 });
    const summary = summarize(report);
    console.log(summary);
    if (!report.ok) {
      const file = writeReport(report);
      throw new Error(`${summary}\nreport: ${file}\nhistory: ${saveHistory(result)}\nprocess output (tail):\n${tail}`);
    }
    expect(report.faults.total).toBeGreaterThan(5);
    expect(report.acked).toBeGreaterThan(100);
  }, 300_000);
});
