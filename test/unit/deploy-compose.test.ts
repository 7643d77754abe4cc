// docker-compose.yml and deploy/nginx.conf as operations see them (no Docker engine here, so
// statically): the admin listener stays on the compose network, Socket.IO is balanced sticky,
// every service has a health check that asks something real, and every variable is known.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { envSchema } from '../../src/config/schema.js';

const ROOT = join(import.meta.dirname, '..', '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string | number | boolean>;
  ports?: (string | number | { target?: number; published?: number | string })[];
  expose?: (string | number)[];
  depends_on?: Record<string, { condition?: string }>;
  healthcheck?: { test?: string[] | string; disable?: boolean };
}

const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service> };
const services = Object.entries(compose.services);
const nginx = read('deploy/nginx.conf');
const DEFAULT_PORT = String(envSchema.shape.PORT.parse(undefined));

const env = (s: Service): Record<string, string> => Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, String(v)]));
const isWorker = (s: Service) => s.command?.includes('worker') === true;
const gateways = services.filter(([, s]) => s.build !== undefined && !isWorker(s));
const workers = services.filter(([, s]) => s.build !== undefined && isWorker(s));
const checkOf = (s: Service): string[] => (typeof s.healthcheck?.test === 'string' ? ['CMD-SHELL', s.healthcheck.test] : (s.healthcheck?.test ?? []));
/** The first http://host:port/path a health check command asks. */
function checkedUrl(s: Service): URL {
  const m = /http:\/\/[\w.-]+:\d+\/[\w/-]*/.exec(checkOf(s).join(' '));
  if (!m) throw new Error(`no URL in the health check ${JSON.stringify(checkOf(s))}`);
  return new URL(m[0]);
}

/** `location <spec> { ... }` blocks of the nginx config, by their spec. */
function locations(): Map<string, string> {
  return new Map([...nginx.matchAll(/^\s*location\s+([^{]+?)\s*\{([^}]*)\}/gm)].map((m) => [m[1] ?? '', m[2] ?? '']));
}
function upstream(name: string): string {
  const m = new RegExp(`^\\s*upstream\\s+${name}\\s*\\{([^}]*)\\}`, 'm').exec(nginx);
  if (!m) throw new Error(`no upstream ${name}`);
  return m[1] ?? '';
}

describe('the admin listener', () => {
  it('every gateway and worker sets ADMIN_PORT, apart from PORT', () => {
    for (const [name, s] of [...gateways, ...workers]) {
      const e = env(s);
      expect(e['ADMIN_PORT'], name).toMatch(/^\d+$/);
      expect(e['ADMIN_PORT'], name).not.toBe(e['PORT'] ?? DEFAULT_PORT);
    }
    expect(gateways.length).toBeGreaterThanOrEqual(2);
    expect(workers.length).toBeGreaterThanOrEqual(1);
  });

  it('is published by no service, and only the load balancer publishes anything', () => {
    const adminPorts = new Set([...gateways, ...workers].map(([, s]) => env(s)['ADMIN_PORT']));
    for (const [name, s] of services) {
      for (const p of s.ports ?? []) {
        const target = typeof p === 'object' ? String(p.target) : String(p).split(':').at(-1)?.split('/')[0];
        expect(adminPorts.has(target), `${name} publishes ${JSON.stringify(p)}`).toBe(false);
        expect(/^(nginx|haproxy):/.test(s.image ?? ''), `${name} publishes ${JSON.stringify(p)}`).toBe(true);
      }
    }
  });

  it('is not proxied by nginx: every upstream server is a gateway on PORT, and admin paths are refused', () => {
    const servers = [...nginx.matchAll(/^\s*server\s+([\w.-]+):(\d+)/gm)];
    expect(servers.length).toBeGreaterThan(0);
    for (const [, host, port] of servers) {
      expect(gateways.map(([n]) => n), String(host)).toContain(host);
      expect(port).toBe(DEFAULT_PORT);
    }
    const refusing = [...locations()].filter(([, body]) => /\breturn\s+404\b/.test(body)).map(([spec]) => spec);
    const refused = (path: string) =>
      refusing.some((spec) => {
        const regex = /^~\s+(.+)$/.exec(spec);
        return regex ? new RegExp(regex[1] ?? '').test(path) : path.startsWith(spec.replace(/^=\s*/, ''));
      });
    for (const path of ['/admin/stats', '/admin/rooms', '/metrics']) expect(refused(path), path).toBe(true);
    for (const path of ['/ws', '/socket.io/', '/healthz', '/readyz', '/']) expect(refused(path), path).toBe(false);
  });
});

describe('balancing', () => {
  it('/socket.io/ goes to a sticky upstream (long-polling needs it), /ws to any gateway', () => {
    const locs = locations();
    const target = (spec: string) => /proxy_pass\s+http:\/\/([\w-]+)\s*;/.exec(locs.get(spec) ?? '')?.[1] ?? '';
    expect(upstream(target('/socket.io/'))).toMatch(/^\s*(ip_hash|hash\s+\$remote_addr\b[^;]*);/m);
    // `/` serves /ws: any gateway will do, a reconnect resumes with `join` + `since`.
    expect(upstream(target('/'))).toMatch(/^\s*server\s/m);
    expect(nginx).toMatch(/proxy_set_header\s+Upgrade\s+\$http_upgrade/);
  });
});

describe('health checks', () => {
  it('every service has one that is not disabled', () => {
    for (const [name, s] of services) {
      expect(s.healthcheck?.disable, name).not.toBe(true);
      expect(checkOf(s).length, name).toBeGreaterThan(1);
      expect(['CMD', 'CMD-SHELL'], name).toContain(checkOf(s)[0]);
    }
  });

  it('gateways ask /readyz on PORT; workers ask /readyz on their ADMIN_PORT', () => {
    for (const [name, s] of gateways) {
      const url = checkedUrl(s);
      expect([url.port, url.pathname], name).toEqual([env(s)['PORT'] ?? DEFAULT_PORT, '/readyz']);
    }
    for (const [name, s] of workers) {
      const url = checkedUrl(s);
      expect([url.port, url.pathname], name).toEqual([env(s)['ADMIN_PORT'], '/readyz']);
    }
  });

  it('nats runs its monitoring port and is checked on /healthz there; redis and mongo are pinged', () => {
    const [, nats] = services.find(([, s]) => /^nats:/.test(s.image ?? '')) ?? [];
    const cmd = nats?.command ?? [];
    const monitor = cmd[cmd.indexOf('-m') + 1];
    expect(cmd).toContain('-m');
    const url = checkedUrl(nats ?? {});
    expect([url.port, url.pathname]).toEqual([monitor, '/healthz']);
    const [, redis] = services.find(([, s]) => /^redis:/.test(s.image ?? '')) ?? [];
    expect(checkOf(redis ?? {}).slice(1)).toEqual(['redis-cli', 'ping']);
    const [, mongo] = services.find(([, s]) => /^mongo:/.test(s.image ?? '')) ?? [];
    expect(checkOf(mongo ?? {}).join(' ')).toMatch(/ping/);
  });

  it('the load balancer is checked on a location it answers itself, on the port it listens on', () => {
    const [, lb] = services.find(([, s]) => /^nginx:/.test(s.image ?? '')) ?? [];
    const url = checkedUrl(lb ?? {});
    expect(nginx).toMatch(new RegExp(`^\\s*listen\\s+${url.port}\\s*;`, 'm'));
    expect(locations().get(`= ${url.pathname}`)).toMatch(/\breturn\s+200\b/);
  });

  it('a dependency waited on as healthy has a health check', () => {
    for (const [name, s] of services) {
      for (const [dep, { condition }] of Object.entries(s.depends_on ?? {})) {
        if (condition === 'service_healthy') expect(compose.services[dep]?.healthcheck?.test, `${name} → ${dep}`).toBeDefined();
      }
    }
  });
});

describe('environment', () => {
  it('every variable a Parley service sets is in the config schema', () => {
    const known = new Set(Object.keys(envSchema.shape));
    for (const [name, s] of [...gateways, ...workers]) {
      for (const key of Object.keys(env(s))) expect(known.has(key), `${name}: ${key}`).toBe(true);
    }
  });
});
