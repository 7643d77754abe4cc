import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { jwtVerify } from 'jose';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ENV_DESCRIPTIONS } from '../../src/config/descriptions.js';
import { envSchema } from '../../src/config/schema.js';
import { freePort } from '../helpers/cluster.js';

/** The `parley` command (src/cli.ts through tsx) as a person runs it, from any working directory. */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'src/cli.ts');
const TSX = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
const SECRET = 'cli-test-secret-that-is-at-least-32-bytes';
const DEADLINE_MS = 20_000;

interface Run {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  exited: Promise<number | null>;
}

const running = new Set<ChildProcess>();
const dirs: string[] = [];

function parley(args: string[], env: Record<string, string> = {}, cwd = ROOT): Run {
  const child = spawn(process.execPath, ['--import', TSX, CLI, ...args], {
    cwd,
    env: { PATH: process.env['PATH'] ?? '', NODE_ENV: 'test', LOG_LEVEL: 'info', DRAIN_S: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const run: Run = { child, stdout: '', stderr: '', exited: new Promise((resolve) => child.on('exit', (code) => (running.delete(child), resolve(code)))) };
  child.stdout?.on('data', (d: Buffer) => (run.stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (run.stderr += d.toString()));
  return run;
}

/** Rejects naming `what` (and the output so far) unless `promise` settles within the deadline. */
function within<T>(promise: Promise<T>, what: string, run: Run): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${DEADLINE_MS} ms:\n${run.stdout}\n${run.stderr}`)), DEADLINE_MS);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

async function finished(run: Run): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const code = await within(run.exited, 'the command to exit', run);
  return { code, stdout: run.stdout, stderr: run.stderr };
}

/** The node's `parley is listening` log line, once it is printed. */
function listening(run: Run): Promise<{ host: string; port: number; devMode: boolean }> {
  const found = new Promise<{ host: string; port: number; devMode: boolean }>((resolve, reject) => {
    const look = () => {
      const line = run.stdout.split('\n').find((l) => l.includes('"parley is listening"'));
      if (line) resolve(JSON.parse(line) as { host: string; port: number; devMode: boolean });
    };
    run.child.stdout?.on('data', look);
    void run.exited.then((code) => reject(new Error(`exited ${code} before listening:\n${run.stdout}\n${run.stderr}`)));
    look();
  });
  return within(found, 'the node to listen', run);
}

/** Resolves once the process printed `text` to stdout. */
function printed(run: Run, text: string): Promise<void> {
  const found = new Promise<void>((resolve) => {
    const look = () => {
      if (run.stdout.includes(text)) resolve();
    };
    run.child.stdout?.on('data', look);
    look();
  });
  return within(found, `"${text}" on stdout`, run);
}

async function stop(run: Run): Promise<void> {
  run.child.kill('SIGTERM');
  await within(run.exited, 'the node to stop', run);
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'parley-cli-'));
  dirs.push(dir);
  return dir;
}

afterEach(() => {
  for (const child of running) child.kill('SIGKILL');
});
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('parley --help', () => {
  it.each([['--help'], ['-h'], ['help']])('%s lists the commands and every config variable with its default and description', async (flag) => {
    const { code, stdout } = await finished(parley([flag]));
    expect(code).toBe(0);
    for (const command of ['serve', 'worker', 'token --user U [--rooms R] [--ttl S]']) expect(stdout).toContain(command);
    const names = Object.keys(envSchema.shape) as (keyof typeof envSchema.shape)[];
    expect(names.length).toBeGreaterThan(40);
    for (const name of names) {
      const line = stdout.split('\n').find((l) => l.trimStart().startsWith(`${name}=`));
      expect(line, name).toBeDefined();
      expect(line, name).toContain(ENV_DESCRIPTIONS[name]);
    }
    expect(stdout).toMatch(/^ {2}PORT=8080 +port of/m);
    expect(stdout).toMatch(/^ {2}MAX_BODY_BYTES=4096 /m);
    expect(stdout).toMatch(/^ {2}HOST=unset +.*127\.0\.0\.1 in dev mode/m);
  });

  it('an unknown command exits 2 naming the commands', async () => {
    const { code, stderr } = await finished(parley(['frobnicate']));
    expect(code).toBe(2);
    expect(stderr.trim()).toBe('parley: unknown command "frobnicate" (commands: serve, worker, token, help)');
  });
});

describe('parley token', () => {
  it('prints only a token signed with JWT_SECRET, with the given user, rooms and ttl', async () => {
    const before = Math.floor(Date.now() / 1000);
    const { code, stdout, stderr } = await finished(parley(['token', '--user', 'tok-alice', '--rooms', 'a,team-*', '--ttl', '120'], { JWT_SECRET: SECRET }));
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const { payload, protectedHeader } = await jwtVerify(stdout.trim(), new TextEncoder().encode(SECRET));
    expect(protectedHeader.alg).toBe('HS256');
    expect(payload).toMatchObject({ sub: 'tok-alice', rooms: ['a', 'team-*'] });
    expect(payload.exp! - before).toBeGreaterThanOrEqual(119);
    expect(payload.exp! - before).toBeLessThanOrEqual(125);
  });

  it('without --rooms the token has no rooms claim (AUTH_DEFAULT_ROOMS applies), and issuer/audience are set when configured', async () => {
    const { code, stdout } = await finished(parley(['token', '--user', 'tok-bob'], { JWT_SECRET: SECRET, JWT_ISSUER: 'iss-x', JWT_AUDIENCE: 'aud-y' }));
    expect(code).toBe(0);
    const { payload } = await jwtVerify(stdout.trim(), new TextEncoder().encode(SECRET), { issuer: 'iss-x', audience: 'aud-y' });
    expect(payload['rooms']).toBeUndefined();
    expect(payload.exp! - payload.iat!).toBe(3600);
  });

  it.each([
    [['token'], '--user is required'],
    [['token', '--user', 'u', '--ttl', 'soon'], '--ttl must be'],
    [['token', '--user', 'u', '--room', 'x'], "Unknown option '--room'"],
  ])('%j: exits 2 with one line on stderr and nothing on stdout', async (args, message) => {
    const { code, stdout, stderr } = await finished(parley(args, { JWT_SECRET: SECRET }));
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain(message);
  });
});

describe('dev mode', () => {
  it('keeps its secrets in .parley/dev-secrets.json (0600) across restarts, listens on 127.0.0.1, and parley token signs with them', async () => {
    const cwd = tempDir();
    const first = parley([], { PORT: '0' }, cwd);
    const up = await listening(first);
    expect(up).toMatchObject({ host: '127.0.0.1', devMode: true });
    const file = join(cwd, '.parley/dev-secrets.json');
    await printed(first, `Dev secrets: ${file}`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(cwd, '.parley')).mode & 0o777).toBe(0o700);
    const secrets = JSON.parse(readFileSync(file, 'utf8')) as { jwtSecret: string; adminToken: string };
    // Printed nowhere: the banner names the file, not its contents.
    expect(first.stdout + first.stderr).not.toContain(secrets.jwtSecret);
    expect(first.stdout + first.stderr).not.toContain(secrets.adminToken);
    const minted = await finished(parley(['token', '--user', 'dev-carol'], {}, cwd));
    expect(minted.code, minted.stderr).toBe(0);
    await stop(first);

    const second = parley([], { PORT: '0' }, cwd);
    const again = await listening(second);
    expect(readFileSync(file, 'utf8')).toBe(JSON.stringify(secrets, null, 2) + '\n');
    const base = `http://127.0.0.1:${again.port}`;
    // The token minted before the restart is still accepted (426: it would be upgraded)...
    expect((await fetch(`${base}/ws?token=${minted.stdout.trim()}`)).status).toBe(426);
    expect((await fetch(`${base}/ws?token=${minted.stdout.trim()}x`)).status).toBe(401);
    // ...and so is the admin token.
    expect((await fetch(`${base}/admin/stats`, { headers: { authorization: `Bearer ${secrets.adminToken}` } })).status).toBe(200);
    await stop(second);
  });

  it('an explicit HOST wins over the dev default', async () => {
    const run = parley([], { PORT: '0', HOST: '0.0.0.0', DEV_SECRETS_FILE: join(tempDir(), 's.json') });
    expect(await listening(run)).toMatchObject({ host: '0.0.0.0', devMode: true });
    await stop(run);
  });
});

describe('start-up failures: one line on stderr, exit 1', () => {
  it('a second node on a port in use refuses to start', async () => {
    const first = parley([], { PORT: '0', JWT_SECRET: SECRET, HOST: '127.0.0.1' });
    const { port } = await listening(first);
    const { code, stderr } = await finished(parley([], { PORT: String(port), JWT_SECRET: SECRET, HOST: '127.0.0.1' }));
    expect(code).toBe(1);
    expect(stderr.trim().split('\n'), stderr).toHaveLength(1);
    expect(stderr).toContain(`parley: cannot listen on 127.0.0.1:${port}: the port is in use`);
    // The first one still serves.
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    await stop(first);
  });

  it.each([
    ['Redis', 'REDIS_URL', (port: number) => `redis://parley:pw-Redis-hush@127.0.0.1:${port}`],
    ['NATS', 'NATS_URL', (port: number) => `nats://parley:pw-NATS-hush@127.0.0.1:${port}`],
  ])('%s down: names it and its URL without the password', async (name, variable, url) => {
    const port = await freePort();
    const env: Record<string, string> = { PORT: '0', JWT_SECRET: SECRET, [variable]: url(port) };
    if (variable === 'NATS_URL') env['REDIS_URL'] = 'redis://127.0.0.1:6379';
    const { code, stdout, stderr } = await finished(parley([], env));
    expect(code).toBe(1);
    expect(stderr.trim().split('\n'), stderr).toHaveLength(1);
    expect(stderr).toMatch(new RegExp(`^parley: cannot reach ${name} at [a-z]+://parley:\\*\\*\\*@127\\.0\\.0\\.1:${port}: \\S`));
    expect(stdout + stderr).not.toContain(`pw-${name}-hush`);
  });
});
