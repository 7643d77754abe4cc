import type { FanoutResult } from '../lib/fanout-run.js';
import { ratio, type BenchOptions, type Row, type Scenario, type ScenarioResult } from '../lib/report.js';
import { fanoutOnce, fanoutSizes, SYSTEMS, type System } from './fanout.js';

/** About this many subscribers parse the send time out of each message; the others only count. */
const SAMPLED_SUBSCRIBERS = 50;

const system = (name: string): System => SYSTEMS.find((s) => s.name === name)!;

/** Parley /ws's peak deliveries per second: from this run's fan-out scenario, or measured now. */
async function peak(opts: BenchOptions): Promise<{ deliveriesPerS: number; source: string }> {
  const fan = opts.done.get('fanout')?.raw as { results?: Record<string, Partial<FanoutResult>> } | undefined;
  const known = fan?.results?.['Parley /ws']?.deliveriesPerS;
  if (known !== undefined) return { deliveriesPerS: known, source: 'fanout scenario of this run' };
  const r = await fanoutOnce(system('Parley /ws'), 'latency-peak', opts);
  return { deliveriesPerS: r.deliveriesPerS, source: 'measured before the latency runs' };
}

/**
 * Send-to-receive latency at a fixed rate of half Parley /ws's peak, for Parley /ws and raw
 * uWS at the same rate. The publisher writes its send time into the body; sampled subscribers
 * (in another process, same clock) subtract it from their receive time.
 */
export const latency: Scenario = {
  name: 'latency',
  async run(opts): Promise<ScenarioResult> {
    const { subscribers } = fanoutSizes(opts);
    const top = await peak(opts);
    const ratePerS = Math.max(1, Math.round(top.deliveriesPerS / 2 / subscribers));
    const rows: Row[] = [];
    const raw: Record<string, FanoutResult> = {};
    for (const [i, name] of ['raw uWS publish', 'Parley /ws'].entries()) {
      const r = await fanoutOnce(system(name), `latency${i}`, opts, {
        mode: 'rate',
        ratePerS,
        sampleEvery: Math.max(1, Math.floor(subscribers / SAMPLED_SUBSCRIBERS)),
      });
      raw[name] = r;
      const l = r.latencyMs;
      rows.push(
        { system: name, metric: 'rate', value: `${ratePerS} msg/s x ${r.subscribers} subscribers`, unit: '' },
        { system: name, metric: 'deliveries/s', value: r.deliveriesPerS, unit: '' },
        { system: name, metric: 'latency p50 / p99 / p999', value: l ? `${l.p50.toFixed(2)} / ${l.p99.toFixed(2)} / ${l.p999.toFixed(2)}` : 'no samples', unit: 'ms' },
      );
    }
    return {
      scenario: 'latency',
      rows,
      raw: { peak: top, ratePerS, results: raw },
      ratios: [ratio('latency: Parley /ws p99 / raw uWS p99 at half peak', raw['Parley /ws']?.latencyMs?.p99, raw['raw uWS publish']?.latencyMs?.p99, '<=', 2)],
    };
  },
};
