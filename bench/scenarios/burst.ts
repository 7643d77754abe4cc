import type { FanoutResult } from '../lib/fanout-run.js';
import { ratio, type Row, type Scenario, type ScenarioResult } from '../lib/report.js';
import { fanoutOnce, fanoutRows, fanoutSizes, SYSTEMS } from './fanout.js';

/** The publisher windows compared: a small burst per event-loop turn against a large one. */
const WINDOWS = [16, 128] as const;

/**
 * Bursts into one room: the same fan-out (one room, 1,000 subscribers with `?batch=1`, one
 * publisher at full speed) with 16 and with 128 unanswered sends. Many messages queued for one
 * topic in one turn must not cost throughput (uWS 20.30 fell ~10x past ~32 per topic and turn), so
 * deliveries/s at 128 over those at 16 should stay near 1.
 */
export const burst: Scenario = {
  name: 'burst',
  async run(opts): Promise<ScenarioResult> {
    const system = SYSTEMS.find((s) => s.name === 'Parley /ws')!;
    const rows: Row[] = [];
    const raw: Record<string, FanoutResult | { error: string }> = {};
    for (const window of WINDOWS) {
      const name = `Parley /ws, window ${window}`;
      try {
        const r = await fanoutOnce(system, `burst${window}`, { ...opts, window }, { batch: true });
        raw[name] = r;
        rows.push(...fanoutRows(name, r));
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        raw[name] = { error };
        rows.push({ system: name, metric: 'failed', value: error.split('\n')[0] ?? error, unit: '' });
      }
    }
    const dps = (w: number) => {
      const r = raw[`Parley /ws, window ${w}`];
      return r && 'deliveriesPerS' in r ? r.deliveriesPerS : undefined;
    };
    return {
      scenario: 'burst',
      rows,
      raw: { sizes: { ...fanoutSizes(opts), windows: WINDOWS, batch: true }, results: raw },
      ratios: [ratio('burst: deliveries/s at window 128 / at window 16', dps(128), dps(16), '>=', 0.8)],
    };
  },
};
