import { BENCH_SECRET, startServer, stopAll, type Server } from '../lib/children.js';
import { runFanout, type FanoutResult } from '../lib/fanout-run.js';
import { ratio, type BenchOptions, type Row, type Scenario, type ScenarioResult } from '../lib/report.js';
import { benchPrefix, cleanupPrefix, localServices, unreachable, type Services } from '../lib/services.js';
import { fanoutRows, fanoutSizes, PARLEY_FANOUT_ENV } from './fanout.js';

/**
 * Fan-out over `nodes` Parley processes sharing one KEY_PREFIX of their own: subscribers split
 * evenly over the nodes, the publisher on the first. Everything under the prefix is removed after.
 */
export async function parleyFanout(tag: string, nodes: number, env: Record<string, string>, services: Services, opts: BenchOptions): Promise<FanoutResult> {
  const prefix = benchPrefix(tag);
  const servers: Server[] = [];
  try {
    for (let i = 0; i < nodes; i++) servers.push(await startServer('parley', `${tag}-n${i}`, { ...PARLEY_FANOUT_ENV, KEY_PREFIX: prefix, ...env }));
    return await runFanout({
      tag,
      kind: 'ws',
      secret: BENCH_SECRET,
      ports: servers.map((s) => s.port),
      serverPids: servers.map((s) => s.pid),
      gens: opts.gens,
      mode: 'max',
      sampleEvery: 0,
      ...fanoutSizes(opts),
    });
  } finally {
    await stopAll(servers);
    await cleanupPrefix(services, prefix);
  }
}

/** Skips a scenario whose services are not there, saying which. */
export async function servicesOrNote(scenario: string): Promise<{ services: Services } | ScenarioResult> {
  const services = localServices();
  const down = (await Promise.all([unreachable(services.redisUrl), unreachable(services.natsUrl)])).filter((x) => x !== undefined);
  if (down.length === 0) return { services };
  return { scenario, rows: [], ratios: [], raw: { skipped: down }, note: `skipped: not reachable: ${down.join(', ')} (set REDIS_URL and NATS_URL, or run bash scripts/services.sh)` };
}

export const cluster: Scenario = {
  name: 'cluster',
  async run(opts): Promise<ScenarioResult> {
    const found = await servicesOrNote('cluster');
    if (!('services' in found)) return found;
    const { redisUrl, natsUrl } = found.services;
    const setups: { name: string; nodes?: number; env: Record<string, string> }[] = [
      { name: 'one node (Redis state, NATS bus)', nodes: 1, env: { REDIS_URL: redisUrl, NATS_URL: natsUrl, BUS: 'nats' } },
      { name: 'two nodes over NATS', nodes: 2, env: { REDIS_URL: redisUrl, NATS_URL: natsUrl, BUS: 'nats' } },
      // NATS_URL here too: the durable queue (JetStream) is the same in all three, only the bus differs.
      { name: 'two nodes over Redis', nodes: 2, env: { REDIS_URL: redisUrl, NATS_URL: natsUrl, BUS: 'redis' } },
    ];
    const rows: Row[] = [];
    const raw: Record<string, FanoutResult | { error: string }> = {};
    for (const [i, setup] of setups.entries()) {
      try {
        const r = await parleyFanout(`cluster${i}`, setup.nodes ?? 1, setup.env, found.services, opts);
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
      scenario: 'cluster',
      rows,
      raw: { sizes: fanoutSizes(opts), transport: '/ws', results: raw },
      ratios: [
        ratio('cluster: two nodes over NATS / one node', dps('two nodes over NATS'), dps('one node (Redis state, NATS bus)'), '>=', 0.7),
        ratio('cluster: two nodes over Redis / one node', dps('two nodes over Redis'), dps('one node (Redis state, NATS bus)'), '>='),
      ],
    };
  },
};
