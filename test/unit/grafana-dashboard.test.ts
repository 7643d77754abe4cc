// deploy/grafana/parley.json queries only metrics Parley exports, with the labels they carry,
// and shows every metric of the node's Metrics, the queue stream and the persist workers.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../src/admin/metrics.js';
import { registerQueueMetrics } from '../../src/bus/queue-metrics.js';
import { PersistMetrics } from '../../src/workers/persist-metrics.js';

interface Target {
  expr: string;
  datasource?: { uid?: string };
}
interface Panel {
  type: string;
  title: string;
  id: number;
  datasource?: { uid?: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: string }[] };
}

const dashboard = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'deploy', 'grafana', 'parley.json'), 'utf8')) as Dashboard;
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const queries = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));

/** Every metric a gateway (its Metrics, the queue gauges) or a persist worker exports, by name. */
function exported(): Map<string, { type: string; labels: string[] }> {
  const node = new Metrics(true);
  registerQueueMetrics(node.registry, () => undefined);
  const worker = new Registry();
  collectDefaultMetrics({ register: worker, prefix: 'parley_worker_' });
  new PersistMetrics(worker);
  const out = new Map<string, { type: string; labels: string[] }>();
  for (const registry of [node.registry, worker]) {
    // prom-client's metric objects carry their label names, which its types leave out.
    for (const m of registry.getMetricsAsArray() as unknown as { name: string; type: string; labelNames?: readonly string[] }[]) {
      out.set(m.name, { type: m.type, labels: [...(m.labelNames ?? [])] });
    }
  }
  return out;
}
const METRICS = exported();
/** Labels Prometheus adds to every scraped series. */
const TARGET_LABELS = ['instance', 'job', 'namespace', 'pod', 'service', 'container', 'endpoint'];

/** The metric names an expression reads: `parley_…` identifiers, histogram series mapped to their histogram. */
function readsOf(expr: string): { series: string; metric: string }[] {
  return [...expr.matchAll(/\bparley_[a-z0-9_]+/g)].map(([series]) => {
    const base = series.replace(/_(bucket|sum|count)$/, '');
    return { series, metric: METRICS.get(series) ? series : base };
  });
}

describe('the Grafana dashboard', () => {
  it('has panels with queries, unique ids, and a Prometheus data source variable they all use', () => {
    expect(dashboard.uid).toMatch(/^[a-z0-9-]{1,40}$/);
    expect(queries.length).toBeGreaterThan(10);
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const ds = dashboard.templating.list.find((v) => v.type === 'datasource' && v.query === 'prometheus');
    expect(ds).toBeDefined();
    for (const p of panels.filter((x) => x.type !== 'row')) {
      expect(p.datasource?.uid, p.title).toBe(`\${${ds?.name}}`);
      for (const t of p.targets ?? []) expect(t.datasource?.uid, p.title).toBe(`\${${ds?.name}}`);
    }
  });

  it('queries only metrics that Parley exports; _bucket only of histograms, with le', () => {
    for (const { panel, expr } of queries) {
      const reads = readsOf(expr);
      expect(reads.length, `${panel}: ${expr}`).toBeGreaterThan(0);
      for (const { series, metric } of reads) {
        const m = METRICS.get(metric);
        expect(m, `${panel}: ${series} is not exported`).toBeDefined();
        if (series !== metric) expect(m?.type, `${panel}: ${series}`).toBe('histogram');
        if (series.endsWith('_bucket')) expect(expr, panel).toMatch(/histogram_quantile\(0?\.\d+, sum by \(le\) \(rate\(/);
      }
    }
  });

  it('takes rates of counters only, and groups and filters only by labels the metric has', () => {
    for (const { panel, expr } of queries) {
      for (const { series, metric } of readsOf(expr)) {
        const m = METRICS.get(metric)!;
        if (m.type === 'counter') expect(expr, `${panel}: ${series}`).toMatch(new RegExp(`rate\\(${series}(\\{[^}]*\\})?\\[`));
        if (m.type === 'gauge') expect(expr, `${panel}: ${series}`).not.toMatch(new RegExp(`rate\\(${series}\\b`));
      }
      const labels = [...expr.matchAll(/by \(([^)]*)\)/g), ...expr.matchAll(/\{([a-z_]+)=/g)].flatMap((m) => (m[1] ?? '').split(',').map((l) => l.trim()));
      const own = readsOf(expr).flatMap(({ metric }) => METRICS.get(metric)?.labels ?? []);
      for (const label of labels) expect([...own, 'le', ...TARGET_LABELS], `${panel}: ${label} in ${expr}`).toContain(label);
    }
  });

  it("shows every metric of the gateway's Metrics, the queue stream and the persist workers", () => {
    const shown = new Set(queries.flatMap(({ expr }) => readsOf(expr).map((r) => r.metric)));
    const own = [...METRICS.keys()].filter((n) => !/^parley_(worker_)?(process|nodejs)_/.test(n));
    expect(own.length).toBeGreaterThan(15);
    for (const name of own) expect(shown.has(name), name).toBe(true);
  });
});
