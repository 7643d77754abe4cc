import { BENCH_SECRET, startServer, stopAll, type Server } from '../lib/children.js';
import { runFanout, type FanoutResult } from '../lib/fanout-run.js';
import { ratio, threshold, type BenchOptions, type Row, type Scenario, type ScenarioResult } from '../lib/report.js';
import { benchPrefix, cleanupPrefix, localServices, unreachable } from '../lib/services.js';

/** A few members in the room: the figure is the sender's, not the fan-out's. */
function sizes(opts: BenchOptions) {
  return opts.quick
    ? { subscribers: 10, warmupMs: 1_000, durationMs: 3_000, window: opts.window, bodyBytes: 100 }
    : { subscribers: 10, warmupMs: 2_000, durationMs: 10_000, window: opts.window, bodyBytes: 100 };
}

const SETUPS = [
  { name: 'no hook', hook: false },
  { name: 'hook that accepts at once', hook: true },
] as const;

/**
 * What the before-publish hook costs a `send` (docs/hooks.md): one publisher at full speed
 * (`window` unanswered sends) into a room of a few members, on one Parley node without a hook
 * and with one whose hook (bench/servers/publish-hook.ts, its own process) accepts every message
 * at once. With Redis reachable the node keeps its room state there (so the hook's dedupe probe
 * is a Redis call, as in production), else it runs embedded. Acked sends per second and the
 * send-to-reply p50/p99 of each, and the ratios.
 */
export const hook: Scenario = {
  name: 'hook',
  async run(opts): Promise<ScenarioResult> {
    const s = sizes(opts);
    const services = localServices();
    const redis = (await unreachable(services.redisUrl)) === undefined;
    const rows: Row[] = [];
    const raw: Record<string, FanoutResult | { error: string }> = {};
    let hookServer: Server | undefined;
    try {
      hookServer = await startServer('publish-hook', 'hook-server');
      for (const [i, setup] of SETUPS.entries()) {
        const prefix = benchPrefix(`hook${i}`);
        let server: Server | undefined;
        try {
          server = await startServer('parley', `hook${i}`, {
            ...(redis ? { REDIS_URL: services.redisUrl, BUS: 'redis', KEY_PREFIX: prefix } : {}),
            ...(setup.hook ? { HOOK_PUBLISH_URL: `http://127.0.0.1:${hookServer.port}/publish` } : {}),
          });
          const serverPids = setup.hook ? [server.pid, hookServer.pid] : [server.pid];
          const r = await runFanout({ tag: `hook${i}`, kind: 'ws', secret: BENCH_SECRET, ports: [server.port], serverPids, gens: opts.gens, mode: 'max', sampleEvery: 0, ...s });
          raw[setup.name] = r;
          const ack = r.publish.ackMs;
          rows.push(
            { system: setup.name, metric: 'acked sends/s', value: r.messagesPerS, unit: `(window ${s.window}, ${r.subscribers} members, ${redis ? 'Redis state' : 'embedded'})` },
            { system: setup.name, metric: 'send-to-reply p50 / p99', value: ack ? `${ack.p50.toFixed(2)} / ${ack.p99.toFixed(2)}` : 'no samples', unit: 'ms' },
            { system: setup.name, metric: setup.hook ? 'CPU Parley + hook' : 'CPU Parley', value: r.cpuPercent.servers.join(' + '), unit: '% of a core' },
            ...(r.publish.errors > 0 ? [{ system: setup.name, metric: 'refused sends', value: r.publish.errors, unit: r.publish.firstError ?? '' }] : []),
          );
        } catch (err) {
          const error = err instanceof Error ? err.message : String(err);
          raw[setup.name] = { error };
          rows.push({ system: setup.name, metric: 'failed', value: error.split('\n')[0] ?? error, unit: '' });
        } finally {
          await stopAll([server]);
          if (redis) await cleanupPrefix(services, prefix);
        }
      }
    } finally {
      await stopAll([hookServer]);
    }
    const get = (name: string) => {
      const r = raw[name];
      return r && 'publish' in r ? r : undefined;
    };
    const off = get('no hook');
    const on = get('hook that accepts at once');
    const p99 = (r: FanoutResult | undefined) => r?.publish.ackMs?.p99;
    const cost = p99(on) !== undefined && p99(off) !== undefined ? p99(on)! - p99(off)! : undefined;
    if (cost !== undefined) rows.push({ system: 'hook that accepts at once', metric: 'p99 cost of the hook', value: cost, unit: 'ms' });
    return {
      scenario: 'hook',
      rows,
      raw: { sizes: s, state: redis ? 'redis' : 'embedded', results: raw },
      ratios: [
        ratio('hook: acked sends/s with a hook / without', on?.messagesPerS, off?.messagesPerS, '>='),
        ratio('hook: send p99 with a hook / without', p99(on), p99(off), '<='),
        threshold('hook: send p99 cost of a hook, ms', cost, '<='),
      ],
    };
  },
};
