import type { Registry } from 'prom-client';
import { ResponseGuard } from '../gateway/http.js';
import type { TemplatedApp } from '../gateway/uws.js';
import type { Logger } from '../shared/logger.js';

/** A dependency's readiness: true when connected. */
export type ReadinessCheck = () => boolean;

export interface HealthDeps {
  app: TemplatedApp;
  checks: Record<string, ReadinessCheck>;
  isDraining: () => boolean;
}

/** `/healthz` and `/readyz` (docs/admin-api.md, "Health and metrics"). */
export function mountHealth(deps: HealthDeps): void {
  const { app, checks, isDraining } = deps;
  app.get('/healthz', (res) => {
    new ResponseGuard(res).json({ status: 200, body: { status: 'ok' } });
  });
  app.get('/readyz', (res) => {
    const results: Record<string, string> = {};
    let ready = !isDraining();
    for (const [name, check] of Object.entries(checks)) {
      const ok = check();
      results[name] = ok ? 'ok' : 'down';
      ready &&= ok;
    }
    results['draining'] = isDraining() ? 'yes' : 'no';
    const status = isDraining() ? 'draining' : ready ? 'ready' : 'unavailable';
    new ResponseGuard(res).json({ status: ready ? 200 : 503, body: { status, checks: results } });
  });
}

/** `/metrics`: the registry in Prometheus text format. */
export function mountMetrics(app: TemplatedApp, registry: Registry, logger: Logger): void {
  app.get('/metrics', (res) => {
    const guard = new ResponseGuard(res);
    registry.metrics().then(
      (text) => guard.send(200, text, registry.contentType),
      (err: unknown) => {
        logger.error({ err }, 'rendering metrics failed');
        guard.send(500, 'metrics unavailable\n', 'text/plain');
      },
    );
  });
}
