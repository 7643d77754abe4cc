// deploy/helm/parley: `helm lint`, then `helm template` rendered and read back as manifests.
// Helm v4 comes from scripts/services.sh (go install); without it these tests fail, naming it.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { Metrics } from '../../src/admin/metrics.js';
import { loadConfig } from '../../src/config/index.js';
import { envSchema } from '../../src/config/schema.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CHART = join(ROOT, 'deploy', 'helm', 'parley');

/** The helm binary: $HELM_BIN, else GOPATH's bin (where scripts/services.sh installs it). */
function helmBinary(): string {
  const candidates: string[] = [];
  if (process.env['HELM_BIN']) candidates.push(process.env['HELM_BIN']);
  for (const go of ['go', '/usr/local/go/bin/go']) {
    try {
      const gopath = execFileSync(go, ['env', 'GOPATH'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
      candidates.push(join(gopath.split(':')[0] ?? gopath, 'bin', 'helm'));
      break;
    } catch {
      // this go is not installed: try the next one
    }
  }
  candidates.push(join(homedir(), 'go', 'bin', 'helm'));
  for (const bin of candidates) {
    if (existsSync(bin) && execFileSync(bin, ['version', '--template', '{{.Version}}'], { encoding: 'utf8' }).startsWith('v4')) return bin;
  }
  throw new Error(`helm v4 is missing (looked at ${candidates.join(', ')}): run \`bash scripts/services.sh\` (npm test does)`);
}
const HELM = helmBinary();

function helm(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(HELM, args, { encoding: 'utf8', cwd: ROOT });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean }; fieldRef?: { fieldPath: string } };
}
interface Probe {
  httpGet?: { path: string; port: string | number };
}
interface Container {
  name: string;
  command?: string[];
  env?: EnvVar[];
  ports?: { name: string; containerPort: number }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
}
interface Manifest {
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: any;
}

/** `helm template` with `--set` pairs, as manifests. */
function render(sets: Record<string, string> = {}): Manifest[] {
  const r = helm(['template', 'chat', CHART, ...Object.entries(sets).flatMap(([k, v]) => ['--set', `${k}=${v}`])]);
  if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as Manifest | null)
    .filter((m): m is Manifest => m !== null);
}

const one = (ms: Manifest[], kind: string, name: string): Manifest => {
  const m = ms.find((x) => x.kind === kind && x.metadata.name === name);
  if (!m) throw new Error(`no ${kind} ${name} in ${ms.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return m;
};
const containerOf = (d: Manifest): Container => d.spec.template.spec.containers[0] as Container;
const envValue = (c: Container, name: string) => c.env?.find((e) => e.name === name)?.value;
const portNamed = (c: Container, name: string) => c.ports?.find((p) => p.name === name)?.containerPort;

/** A container's environment as the pod would see it: secrets and the pod name filled in. */
function resolvedEnv(c: Container): Record<string, string> {
  const secrets: Record<string, string> = { JWT_SECRET: 's'.repeat(48), ADMIN_TOKEN: 'a'.repeat(32) };
  return Object.fromEntries(
    (c.env ?? []).map((e) => {
      if (e.value !== undefined) return [e.name, e.value];
      if (e.valueFrom?.fieldRef) return [e.name, 'chat-parley-gateway-abc12'];
      return [e.name, secrets[e.valueFrom?.secretKeyRef?.key ?? ''] ?? ''];
    }),
  );
}

const defaults = render();
const gateway = containerOf(one(defaults, 'Deployment', 'chat-parley-gateway'));
const worker = containerOf(one(defaults, 'Deployment', 'chat-parley-worker'));

describe('helm lint', () => {
  it.each([
    ['the default values', []],
    ['every optional object', ['--set', 'autoscaling.enabled=true', '--set', 'serviceMonitor.enabled=true', '--set', 'secret.create=true', '--set', `secret.JWT_SECRET=${'s'.repeat(48)}`]],
  ])('passes with %s', (_what, args) => {
    const r = helm(['lint', CHART, '--strict', ...args]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });
});

describe('the gateway Deployment', () => {
  it('listens on PORT (http) and ADMIN_PORT (admin), two different ports', () => {
    expect(portNamed(gateway, 'http')).toBe(Number(envValue(gateway, 'PORT')));
    expect(portNamed(gateway, 'admin')).toBe(Number(envValue(gateway, 'ADMIN_PORT')));
    expect(portNamed(gateway, 'http')).not.toBe(portNamed(gateway, 'admin'));
  });

  it('is ready on /readyz and alive on /healthz, on the public port', () => {
    expect(gateway.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(gateway.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
  });

  it('waits in preStop, and its grace period exceeds preStop + DRAIN_S', () => {
    const [cmd, seconds] = gateway.lifecycle?.preStop?.exec?.command ?? [];
    expect(cmd).toBe('sleep');
    const drainS = Number(envValue(gateway, 'DRAIN_S') ?? envSchema.shape.DRAIN_S.parse(undefined));
    const grace = one(defaults, 'Deployment', 'chat-parley-gateway').spec.template.spec.terminationGracePeriodSeconds as number;
    expect(grace).toBeGreaterThan(drainS + Number(seconds));
    const longer = render({ 'config.DRAIN_S': '60' });
    expect(one(longer, 'Deployment', 'chat-parley-gateway').spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(60 + Number(seconds));
  });

  it('refuses a grace period that does not exceed preStop + DRAIN_S', () => {
    const r = helm(['template', 'chat', CHART, '--set', 'config.DRAIN_S=20', '--set', 'gateway.terminationGracePeriodSeconds=25']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('gateway.terminationGracePeriodSeconds (25) must exceed');
  });
});

describe('the worker Deployment', () => {
  it('runs `worker` with its probes on the admin port it listens on (ADMIN_PORT)', () => {
    expect(worker.command?.slice(-1)).toEqual(['worker']);
    expect(portNamed(worker, 'admin')).toBe(Number(envValue(worker, 'ADMIN_PORT')));
    expect(worker.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'admin' });
    expect(worker.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'admin' });
  });
});

describe('environment', () => {
  const known = new Set(Object.keys(envSchema.shape));
  const everyEnv = (ms: Manifest[]) =>
    ms.filter((m) => m.kind === 'Deployment').flatMap((d) => (d.spec.template.spec.containers as Container[]).flatMap((c) => (c.env ?? []).map((e) => [`${d.metadata.name}/${c.name}`, e.name] as const)));

  it('sets only variables of the config schema, also with every option on', () => {
    const all = render({ 'autoscaling.enabled': 'true', 'serviceMonitor.enabled': 'true', 'gateway.env.RATE_PER_S': '30', 'worker.env.MAX_DELIVER': '7' });
    const names = [...everyEnv(defaults), ...everyEnv(all)];
    expect(names.length).toBeGreaterThan(10);
    for (const [where, name] of names) expect(known.has(name), `${where}: ${name}`).toBe(true);
    const secret = render({ 'secret.create': 'true', 'secret.JWT_SECRET': 's'.repeat(48) }).find((m) => m.kind === 'Secret') as Manifest & { stringData: Record<string, string> };
    for (const key of Object.keys(secret.stringData)) expect(known.has(key), `Secret: ${key}`).toBe(true);
  });

  it('loads as a production configuration in each role', () => {
    expect(loadConfig(resolvedEnv(gateway)).config).toMatchObject({ env: 'production', devMode: false, admin: { port: 9090 }, port: 8080 });
    expect(loadConfig(resolvedEnv(worker), { role: 'worker' }).config).toMatchObject({ env: 'production', admin: { port: 9090 } });
  });

  it('refuses to set, through config or env, what the chart sets itself', () => {
    for (const set of ['config.PORT=1', 'gateway.env.ADMIN_PORT=1', 'worker.env.JWT_SECRET=x']) {
      expect(helm(['template', 'chat', CHART, '--set', set]).status, set).not.toBe(0);
    }
  });
});

describe('Services', () => {
  const podLabels = (name: string) => one(defaults, 'Deployment', name).spec.template.metadata.labels as Record<string, string>;
  const selects = (svc: Manifest, deployment: string) => Object.entries(svc.spec.selector as Record<string, string>).every(([k, v]) => podLabels(deployment)[k] === v);

  it('the public one carries the client port only, sticky by client address', () => {
    const svc = one(defaults, 'Service', 'chat-parley');
    expect(svc.spec.ports.map((p: { targetPort: string }) => p.targetPort)).toEqual(['http']);
    expect(svc.spec.sessionAffinity).toBe('ClientIP');
    expect(selects(svc, 'chat-parley-gateway')).toBe(true);
  });

  it('the admin ones are ClusterIP whatever service.type is, on the admin port of gateways and workers', () => {
    const ms = render({ 'service.type': 'LoadBalancer' });
    expect(one(ms, 'Service', 'chat-parley').spec.type).toBe('LoadBalancer');
    for (const [svc, deployment] of [['chat-parley-admin', 'chat-parley-gateway'], ['chat-parley-worker-admin', 'chat-parley-worker']] as const) {
      const s = one(ms, 'Service', svc);
      expect(s.spec.type, svc).toBe('ClusterIP');
      expect(s.spec.ports.map((p: { targetPort: string }) => p.targetPort), svc).toEqual(['admin']);
      expect(selects(s, deployment), svc).toBe(true);
    }
  });

  it('a PodDisruptionBudget covers the gateways', () => {
    const pdb = one(defaults, 'PodDisruptionBudget', 'chat-parley-gateway');
    expect(Object.entries(pdb.spec.selector.matchLabels as Record<string, string>).every(([k, v]) => podLabels('chat-parley-gateway')[k] === v)).toBe(true);
    expect(pdb.spec.maxUnavailable).toBe(1);
  });
});

describe('optional objects', () => {
  const ms = render({ 'autoscaling.enabled': 'true', 'serviceMonitor.enabled': 'true' });

  it('are off by default', () => {
    expect(defaults.filter((m) => ['HorizontalPodAutoscaler', 'ServiceMonitor', 'Secret'].includes(m.kind))).toEqual([]);
  });

  it('the HPA scales the gateways on a per-pod metric that src/admin/metrics.ts exports, and the chart README gives its adapter rule', () => {
    const hpa = one(ms, 'HorizontalPodAutoscaler', 'chat-parley-gateway');
    expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: 'chat-parley-gateway' });
    expect(one(ms, 'Deployment', 'chat-parley-gateway').spec.replicas).toBeUndefined();
    const metric = hpa.spec.metrics[0];
    expect(metric.type).toBe('Pods');
    const name = metric.pods.metric.name as string;
    expect(new Metrics(false).registry.getSingleMetric(name), name).toBeDefined();
    const readme = readFileSync(join(CHART, 'README.md'), 'utf8');
    expect(readme).toContain(`seriesQuery: '${name}{namespace!="",pod!=""}'`);
    expect(readme).toContain(`as: "${name}"`);
  });

  it('the ServiceMonitor scrapes /metrics on the admin port of both admin Services', () => {
    const sm = one(ms, 'ServiceMonitor', 'chat-parley');
    expect(sm.spec.endpoints).toEqual([expect.objectContaining({ port: 'admin', path: '/metrics' })]);
    const selected = ms.filter((m) => m.kind === 'Service' && Object.entries(sm.spec.selector.matchLabels as Record<string, string>).every(([k, v]) => m.metadata.labels?.[k] === v));
    expect(selected.map((s) => s.metadata.name).sort()).toEqual(['chat-parley-admin', 'chat-parley-worker-admin']);
  });
});
