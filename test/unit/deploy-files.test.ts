// The Dockerfile, docker-compose.yml and the load balancer's config cannot run here (no Docker
// engine), so this checks what they rely on: every npm script, built file, CLI command,
// environment variable and config file they name exists, and images are pinned.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildAdapters } from '../../src/adapters.js';
import { loadConfig } from '../../src/config/index.js';
import { envSchema } from '../../src/config/schema.js';
import { createLogger } from '../../src/shared/logger.js';

const ROOT = join(import.meta.dirname, '..', '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };

interface Instruction {
  op: string;
  args: string;
}

/** Dockerfile instructions, continuation lines joined, comments dropped. */
function dockerfile(): Instruction[] {
  const text = read('Dockerfile').replace(/\\\n/g, ' ');
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [op = '', ...rest] = line.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
}

/** An exec-form (JSON array) argument list, as CMD and HEALTHCHECK CMD take it. */
function execForm(args: string): string[] {
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) throw new Error(`not an exec-form command: ${args}`);
  return parsed;
}

interface Service {
  image?: string;
  build?: string | { context: string };
  command?: string[] | string;
  environment?: Record<string, string | number | boolean> | string[];
  volumes?: string[];
  ports?: string[];
  depends_on?: string[] | Record<string, unknown>;
  healthcheck?: { disable?: boolean };
}
// Merge keys: the gateways share one `x-gateway` block.
const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service> };
const services = Object.entries(compose.services);
const built = services.filter(([, s]) => s.build !== undefined);
const cmdOf = (s: Service): string[] => (s.command === undefined ? dockerCmd() : typeof s.command === 'string' ? s.command.split(/\s+/) : s.command);
const dockerCmd = (): string[] => execForm(dockerfile().filter((i) => i.op === 'CMD').at(-1)?.args ?? '[]');

/** Values for `${VAR:?…}` and `${VAR}` in the compose file, as an operator would export them. */
const EXPORTED: Record<string, string> = { JWT_SECRET: 's'.repeat(48), ADMIN_TOKEN: 'a'.repeat(32) };

/** A service's environment after compose's interpolation. */
function envOf(s: Service): Record<string, string> {
  const entries = Array.isArray(s.environment)
    ? s.environment.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)] as const)
    : Object.entries(s.environment ?? {}).map(([k, v]) => [k, String(v)] as const);
  const interpolate = (v: string) =>
    v.replace(/\$\{(\w+)(?::?([-?])([^}]*))?\}/g, (_, name: string, kind?: string, rest?: string) => {
      const value = EXPORTED[name] ?? (kind === '-' ? rest : undefined);
      if (value === undefined) throw new Error(`no value for \${${name}} in this test`);
      return value;
    });
  return Object.fromEntries(entries.map(([k, v]) => [k, interpolate(v)]));
}

/** `node dist/X.js …` → the source file `npm run build` compiles to dist/X.js, and the arguments after it. */
function nodeEntry(cmd: string[]): { source: string; args: string[] } {
  expect(cmd[0]).toBe('node');
  const script = cmd[1] ?? '';
  const build = JSON.parse(read('tsconfig.build.json')) as { compilerOptions: { rootDir: string; outDir: string } };
  expect(script.startsWith(`${build.compilerOptions.outDir}/`) && script.endsWith('.js')).toBe(true);
  const source = `${build.compilerOptions.rootDir}/${script.slice(build.compilerOptions.outDir.length + 1, -3)}.ts`;
  return { source, args: cmd.slice(2) };
}

/** Runs `src/cli.ts <command>` with an invalid PORT: a known command fails on the config (1), an unknown one at once (2). */
function cliExit(command: string): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', command], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', PORT: 'not-a-port' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stderr })));
}

/** `name:tag` with a tag that starts with a major version (never `latest` or none). */
function expectPinned(image: string): void {
  expect(image, image).toMatch(/^[a-z0-9./_-]+:\d+(?:\.\d+)*(?:-[a-z0-9.-]+)?$/);
}

describe('Dockerfile', () => {
  const steps = dockerfile();
  const froms = steps.filter((i) => i.op === 'FROM');
  const finalStage = steps.slice(steps.lastIndexOf(froms.at(-1)!));

  it('is multi-stage on node:20-bookworm-slim, and the final stage runs as node on 8080', () => {
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const from of froms) {
      const image = from.args.split(/\s+/)[0] ?? '';
      expectPinned(image);
      expect(image).toBe('node:20-bookworm-slim');
    }
    expect(finalStage.filter((i) => i.op === 'USER').map((i) => i.args)).toEqual(['node']);
    expect(finalStage.filter((i) => i.op === 'EXPOSE').map((i) => i.args)).toEqual([String(envSchema.shape.PORT.parse(undefined))]);
    expect(dockerCmd()).toEqual(['node', 'dist/cli.js']);
  });

  it('runs only npm scripts that exist, builds, then prunes dev dependencies', () => {
    const commands = steps.filter((i) => i.op === 'RUN').flatMap((i) => i.args.split('&&').map((c) => c.trim()));
    const scripts = commands.filter((c) => c.startsWith('npm run ')).map((c) => c.split(/\s+/)[2]);
    expect(scripts).toContain('build');
    for (const s of scripts) expect(pkg.scripts, `npm run ${s}`).toHaveProperty([s ?? '']);
    expect(commands.some((c) => /^npm ci\b/.test(c))).toBe(true);
    expect(existsSync(join(ROOT, 'package-lock.json'))).toBe(true);
    const build = commands.findIndex((c) => c === 'npm run build');
    const prune = commands.findIndex((c) => /^npm prune\b.*--omit=dev/.test(c));
    expect(prune).toBeGreaterThan(build);
  });

  it('copies only files that exist into the build stage', () => {
    const copies = steps.filter((i) => i.op === 'COPY' && !i.args.includes('--from='));
    expect(copies.length).toBeGreaterThan(0);
    for (const copy of copies) {
      const parts = copy.args.split(/\s+/).filter((p) => !p.startsWith('--'));
      for (const source of parts.slice(0, -1)) expect(existsSync(join(ROOT, source)), source).toBe(true);
    }
  });

  it('health-checks GET /healthz with node’s fetch, a route the gateway serves', () => {
    const check = steps.find((i) => i.op === 'HEALTHCHECK');
    const cmd = execForm(check?.args.replace(/^.*?\bCMD\s+/, '') ?? '[]');
    expect(cmd.slice(0, 2)).toEqual(['node', '-e']);
    expect(cmd[2]).toMatch(/fetch\(.*\/healthz/);
    expect(read('src/admin/health.ts')).toContain("app.get('/healthz'");
  });
});

describe('docker-compose.yml', () => {
  it('pins every image to a major version: redis 7, nats 2 with JetStream, mongo 7, a load balancer', () => {
    const images = services.flatMap(([, s]) => (s.image ? [s.image] : []));
    for (const image of images) expectPinned(image);
    for (const wanted of ['redis:7', 'mongo:7']) expect(images).toContain(wanted);
    expect(images.some((i) => /^nats:2(-|$)/.test(i))).toBe(true);
    expect(images.some((i) => /^(nginx|haproxy):/.test(i))).toBe(true);
    const nats = services.find(([, s]) => /^nats:2(-|$)/.test(s.image ?? ''))?.[1];
    expect(cmdOf(nats ?? {})).toContain('-js');
  });

  it('builds two gateways and one worker from the Dockerfile, each command a built file of src/', () => {
    expect(built.every(([, s]) => s.build === '.' || (typeof s.build === 'object' && s.build.context === '.'))).toBe(true);
    const roles = built.map(([, s]) => nodeEntry(cmdOf(s)));
    for (const { source } of roles) expect(existsSync(join(ROOT, source)), source).toBe(true);
    const commands = roles.map((r) => r.args[0] ?? 'serve').sort();
    expect(commands).toEqual(['serve', 'serve', 'worker']);
  });

  it('runs only CLI commands that src/cli.ts accepts', async () => {
    const commands = [...new Set(built.map(([, s]) => nodeEntry(cmdOf(s)).args[0] ?? 'serve'))];
    const results = await Promise.all([...commands, 'no-such-command'].map(cliExit));
    for (const [i, command] of commands.entries()) {
      expect(results[i]?.stderr, command).toContain('invalid configuration: PORT');
      expect(results[i]?.code, command).toBe(1);
    }
    expect(results.at(-1)?.code).toBe(2);
  }, 30_000);

  it('sets only environment variables of the config schema, and each service’s config loads', () => {
    const known = new Set(Object.keys(envSchema.shape));
    for (const [name, s] of built) {
      const env = envOf(s);
      for (const key of Object.keys(env)) expect(known.has(key), `${name}: ${key}`).toBe(true);
      expect(env['NODE_ENV'], name).toBe('production');
      const role = nodeEntry(cmdOf(s)).args[0] === 'worker' ? 'worker' : 'gateway';
      expect(() => loadConfig(env, { role }), name).not.toThrow();
    }
  });

  it('gateways get Redis, NATS, the JWT secret and the admin token, and their adapters build', () => {
    const gateways = built.filter(([, s]) => nodeEntry(cmdOf(s)).args.length === 0);
    expect(gateways).toHaveLength(2);
    for (const [name, s] of gateways) {
      const env = envOf(s);
      for (const key of ['REDIS_URL', 'NATS_URL', 'JWT_SECRET', 'ADMIN_TOKEN']) expect(env, name).toHaveProperty([key]);
      // Lazy connections: builds the objects the gateway would start, without connecting.
      expect(() => buildAdapters(loadConfig(env).config, createLogger('silent')), name).not.toThrow();
    }
    const ids = gateways.map(([, s]) => envOf(s)['NODE_ID']);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('the worker gets NATS and MongoDB', () => {
    const workers = built.filter(([, s]) => nodeEntry(cmdOf(s)).args[0] === 'worker');
    expect(workers).toHaveLength(1);
    const env = envOf(workers[0]![1]);
    expect(env).toHaveProperty(['NATS_URL']);
    expect(env).toHaveProperty(['MONGODB_URL']);
  });

  it('the load balancer mounts a config file that exists and balances over every gateway, forwarding upgrades', () => {
    const [name, lb] = services.find(([, s]) => /^(nginx|haproxy):/.test(s.image ?? '')) ?? [];
    const mounts = (lb?.volumes ?? []).map((v) => v.split(':')[0] ?? '').filter((p) => p.startsWith('./'));
    expect(mounts.length, name).toBe(1);
    const file = mounts[0] ?? '';
    expect(existsSync(join(ROOT, file)), file).toBe(true);
    const conf = read(file);
    const gatewayNames = built.filter(([, s]) => nodeEntry(cmdOf(s)).args.length === 0).map(([n]) => n);
    const port = String(envSchema.shape.PORT.parse(undefined));
    const upstreams = [...conf.matchAll(/^\s*upstream\s+[\w-]+\s*\{([^}]*)\}/gm)].map((m) =>
      [...(m[1] ?? '').matchAll(/^\s*server\s+([\w.-]+):(\d+)/gm)].map((s) => `${s[1]}:${s[2]}`).sort(),
    );
    expect(upstreams.length).toBeGreaterThan(0);
    for (const servers of upstreams) expect(servers).toEqual(gatewayNames.map((g) => `${g}:${port}`).sort());
    expect(conf).toMatch(/proxy_set_header\s+Upgrade\s+\$http_upgrade/);
    expect(conf).toMatch(/proxy_set_header\s+Connection\s+\$connection_upgrade/);
    expect(conf).toMatch(/proxy_http_version\s+1\.1/);
    expect(lb?.ports?.length).toBeGreaterThan(0);
  });

  it('names only services that exist in depends_on', () => {
    const names = new Set(services.map(([n]) => n));
    for (const [name, s] of services) {
      const deps = Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {});
      for (const dep of deps) expect(names.has(dep), `${name} depends on ${dep}`).toBe(true);
    }
  });
});
