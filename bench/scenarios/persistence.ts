import { readFileSync } from 'node:fs';
import { ROOT } from '../lib/children.js';
import type { FanoutResult } from '../lib/fanout-run.js';
import { ratio, type Row, type Scenario, type ScenarioResult } from '../lib/report.js';
import { parleyFanout, servicesOrNote } from './cluster.js';
import { fanoutRows, fanoutSizes } from './fanout.js';

export const NOT_WIRED = 'not available: the gateway does not wire the durable queue yet';

/** Whether gateways get the JetStream queue when NATS_URL is set (src/adapters.ts, read at run time). */
export function durableQueueWired(): boolean {
  return readFileSync(`${ROOT}src/adapters.ts`, 'utf8').includes('JetStreamQueue');
}

/**
 * One node, persistence on against off, same Redis state and Redis bus on both sides: "off" is
 * REDIS_URL alone (memory queue), "on" adds NATS_URL (JetStream queue: every send waits for
 * its PubAck, README.md, "Modes").
 */
export const persistence: Scenario = {
  name: 'persistence',
  async run(opts): Promise<ScenarioResult> {
    if (!durableQueueWired()) {
      process.stdout.write(`persistence: ${NOT_WIRED}\n`);
      return { scenario: 'persistence', rows: [], ratios: [ratio('persistence: on / off', undefined, undefined, '>=', 0.9)], raw: { available: false }, note: NOT_WIRED };
    }
    const found = await servicesOrNote('persistence');
    if (!('services' in found)) return found;
    const { redisUrl, natsUrl } = found.services;
    const setups: { name: string; nodes?: number; env: Record<string, string> }[] = [
      { name: 'persistence off (memory queue)', env: { REDIS_URL: redisUrl, BUS: 'redis' } },
      { name: 'persistence on (JetStream queue)', env: { REDIS_URL: redisUrl, NATS_URL: natsUrl, BUS: 'redis' } },
    ];
    const rows: Row[] = [];
    const raw: Record<string, FanoutResult | { error: string }> = {};
    for (const [i, setup] of setups.entries()) {
      try {
        const r = await parleyFanout(`persist${i}`, 1, setup.env, found.services, opts);
        raw[setup.name] = r;
        rows.push(...fanoutRows(setup.name, r));
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        raw[setup.name] = { error };
        rows.push({ system: setup.name, metric: 'failed', value: error.split('\n')[0] ?? error, unit: '' });
      }
    }
    const dps = (name: string) => {
      const r = raw[name];
      return r && 'deliveriesPerS' in r ? r.deliveriesPerS : undefined;
    };
    return {
      scenario: 'persistence',
      rows,
      raw: { sizes: fanoutSizes(opts), transport: '/ws', results: raw },
      ratios: [ratio('persistence: on / off', dps('persistence on (JetStream queue)'), dps('persistence off (memory queue)'), '>=', 0.9)],
    };
  },
};
