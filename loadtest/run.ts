// `tsx loadtest/run.ts smoke|soak`: starts a Parley node of its own (embedded mode, a fresh
// JWT_SECRET, raised rate limits) on 127.0.0.1, runs ws.yml and socketio.yml against it side by
// side with Artillery, samples the node's RSS, and exits non-zero when an acknowledged message
// was lost, any error was counted, or nothing was acknowledged at all.
//   smoke: LT_DURATION_S (default 30)        soak (`npm run soak`): SOAK_DURATION_S (default 3600)
//   LT_ARRIVAL_RATE: new virtual users per second and transport (default 2)
// The summary ends with a line `LOADTEST_RESULT {json}` for scripts and tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/helpers/cluster.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const LOADTEST = join(ROOT, 'loadtest');
const ARTILLERY = join(LOADTEST, 'node_modules/artillery/bin/run');
const START_DEADLINE_MS = 30_000;
/** Artillery's own start-up and the last virtual users' wait come on top of the phase. */
const OVERRUN_MS = 180_000;

const mode = process.argv[2];
if (mode !== 'smoke' && mode !== 'soak') {
  process.stderr.write('usage: tsx loadtest/run.ts smoke|soak\n');
  process.exit(2);
}
const envInt = (name: string, def: number): number => {
  const v = Number(process.env[name] ?? def);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} must be a positive integer`);
  return v;
};
const durationS = mode === 'smoke' ? envInt('LT_DURATION_S', 30) : envInt('SOAK_DURATION_S', 3600);
const arrivalRate = envInt('LT_ARRIVAL_RATE', 2);
const sampleEveryMs = (mode === 'smoke' ? 5 : 30) * 1000;

const children = new Set<ChildProcess>();
const killAll = (): void => {
  for (const c of children) c.kill('SIGKILL');
};
process.on('exit', killAll);
for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, () => process.exit(130));

function track(child: ChildProcess): Promise<number> {
  children.add(child);
  return new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      children.delete(child);
      resolve(code ?? (signal ? 128 : 1));
    }),
  );
}

/** Lines of a child's output, prefixed, to ours. */
function relay(child: ChildProcess, prefix: string): void {
  for (const stream of [child.stdout, child.stderr]) {
    let rest = '';
    stream?.on('data', (chunk: Buffer) => {
      const lines = (rest + chunk.toString()).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) process.stdout.write(`${prefix} ${line}\n`);
    });
  }
}

async function startNode(secret: string): Promise<{ port: number; exited: Promise<number> }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env['PATH'] ?? '',
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      NODE_ID: `loadtest-${mode}`,
      JWT_SECRET: secret,
      ADMIN_TOKEN: randomBytes(16).toString('hex'),
      LOG_LEVEL: 'warn',
      DRAIN_S: '0',
      RATE_PER_S: '1000',
      RATE_BURST: '2000',
      MAX_CONNS_PER_USER: '1000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = track(child);
  relay(child, '[node]');
  const deadline = Date.now() + START_DEADLINE_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the node exited (${child.exitCode}) at start`);
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
    if (ok) return { port, exited };
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the node did not answer /healthz within ${START_DEADLINE_MS} ms`);
}

async function rss(port: number): Promise<number | undefined> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    const line = text.split('\n').find((l) => l.startsWith('parley_process_resident_memory_bytes '));
    return line ? Number(line.split(' ')[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Below this span a per-hour figure would be noise (GC cycles, warm-up), so none is given. */
const MIN_GROWTH_SPAN_S = 600;

/** Least-squares slope of RSS over time, after the first tenth (warm-up), in MB per hour. */
function growthMbPerHour(samples: { s: number; rss: number }[]): number | null {
  const use = samples.slice(Math.floor(samples.length / 10));
  if (use.length < 3 || use.at(-1)!.s - use[0]!.s < MIN_GROWTH_SPAN_S) return null;
  const mx = use.reduce((a, p) => a + p.s, 0) / use.length;
  const my = use.reduce((a, p) => a + p.rss, 0) / use.length;
  const num = use.reduce((a, p) => a + (p.s - mx) * (p.rss - my), 0);
  const den = use.reduce((a, p) => a + (p.s - mx) ** 2, 0);
  return den === 0 ? null : ((num / den) * 3600) / 1e6;
}

interface TransportResult {
  exitCode: number;
  acked: number;
  lost: number;
  errors: number;
  failedVusers: number;
  p99AckMs: number | null;
  p99DeliveryMs: number | null;
}

async function artillery(script: string, target: string, secret: string, runId: string, out: string): Promise<TransportResult> {
  const overrides = { config: { phases: [{ name: 'chat', duration: durationS, arrivalRate }] } };
  const child = spawn(process.execPath, [ARTILLERY, 'run', '--target', target, '--overrides', JSON.stringify(overrides), '--output', out, script], {
    cwd: LOADTEST,
    env: { ...process.env, JWT_SECRET: secret, LT_RUN_ID: runId, ARTILLERY_DISABLE_TELEMETRY: 'true', DO_NOT_TRACK: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = track(child);
  relay(child, `[${script}]`);
  const timer = setTimeout(() => child.kill('SIGKILL'), durationS * 1000 + OVERRUN_MS);
  const exitCode = await exited;
  clearTimeout(timer);
  if (!existsSync(out)) return { exitCode: exitCode || 1, acked: 0, lost: 0, errors: 1, failedVusers: 0, p99AckMs: null, p99DeliveryMs: null };
  const report = JSON.parse(readFileSync(out, 'utf8')) as {
    aggregate: { counters?: Record<string, number>; summaries?: Record<string, { p99?: number }> };
  };
  const counters = report.aggregate.counters ?? {};
  const summaries = report.aggregate.summaries ?? {};
  return {
    exitCode,
    acked: counters['parley.acked'] ?? 0,
    lost: counters['parley.lost_messages'] ?? 0,
    errors: Object.entries(counters).reduce((sum, [k, v]) => (k.startsWith('errors.') ? sum + v : sum), 0),
    failedVusers: counters['vusers.failed'] ?? 0,
    p99AckMs: summaries['parley.ack_ms']?.p99 ?? null,
    p99DeliveryMs: summaries['parley.delivery_ms']?.p99 ?? null,
  };
}

async function main(): Promise<boolean> {
  if (!existsSync(ARTILLERY)) throw new Error('Artillery is not installed: run `npm ci --prefix loadtest`');
  const secret = randomBytes(32).toString('base64url');
  const runId = randomBytes(4).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), 'parley-loadtest-'));
  const node = await startNode(secret);
  let nodeExit: number | undefined;
  void node.exited.then((c) => (nodeExit = c));
  process.stdout.write(`loadtest ${mode}: ${durationS} s, ${arrivalRate} new users/s per transport, node on 127.0.0.1:${node.port}\n`);
  const started = Date.now();
  const samples: { s: number; rss: number }[] = [];
  const sample = async () => {
    const v = await rss(node.port);
    if (v !== undefined) samples.push({ s: (Date.now() - started) / 1000, rss: v });
  };
  await sample();
  const sampler = setInterval(() => void sample(), sampleEveryMs);
  const [ws, sio] = await Promise.all([
    artillery('ws.yml', `ws://127.0.0.1:${node.port}`, secret, runId, join(dir, 'ws.json')),
    artillery('socketio.yml', `http://127.0.0.1:${node.port}`, secret, runId, join(dir, 'socketio.json')),
  ]);
  clearInterval(sampler);
  await sample();
  const first = samples[0]?.rss;
  const last = samples.at(-1)?.rss;
  const result = {
    mode,
    durationS,
    arrivalRate,
    ws,
    socketio: sio,
    acked: ws.acked + sio.acked,
    lost: ws.lost + sio.lost,
    errors: ws.errors + sio.errors + ws.failedVusers + sio.failedVusers,
    nodeCrashed: nodeExit !== undefined,
    rss: {
      startMb: first === undefined ? null : first / 1e6,
      endMb: last === undefined ? null : last / 1e6,
      growthMbPerHour: growthMbPerHour(samples),
      samples: samples.length,
    },
  };
  const ok = result.lost === 0 && result.errors === 0 && result.acked > 0 && ws.exitCode === 0 && sio.exitCode === 0 && !result.nodeCrashed;
  const fmt = (v: number | null) => (v === null ? 'n/a' : v.toFixed(1));
  process.stdout.write(
    [
      '',
      `loadtest ${mode}: ${ok ? 'PASSED' : 'FAILED'}`,
      `  acknowledged ${result.acked}, lost ${result.lost}, errors ${result.errors}${result.nodeCrashed ? ', THE NODE EXITED' : ''}`,
      `  p99 send->ack: /ws ${fmt(ws.p99AckMs)} ms, Socket.IO ${fmt(sio.p99AckMs)} ms`,
      `  p99 send->delivery: /ws ${fmt(ws.p99DeliveryMs)} ms, Socket.IO ${fmt(sio.p99DeliveryMs)} ms`,
      `  RSS ${fmt(result.rss.startMb)} -> ${fmt(result.rss.endMb)} MB, growth ${result.rss.growthMbPerHour === null ? `n/a (needs ${MIN_GROWTH_SPAN_S / 60}+ min)` : `${fmt(result.rss.growthMbPerHour)} MB/hour`} (${samples.length} samples)`,
      `LOADTEST_RESULT ${JSON.stringify({ ...result, ok })}`,
      '',
    ].join('\n'),
  );
  if (mode === 'smoke') rmSync(dir, { recursive: true, force: true });
  else process.stdout.write(`Artillery reports: ${dir}\n`);
  return ok;
}

main().then(
  (ok) => process.exit(ok ? 0 : 1),
  (err: unknown) => {
    process.stderr.write(`loadtest: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
