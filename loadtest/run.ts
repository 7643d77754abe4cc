// `tsx loadtest/run.ts smoke|soak`: starts a Parley node of its own (embedded mode, a fresh
// JWT_SECRET, raised rate limits) on 127.0.0.1, runs ws.yml and socketio.yml against it side by
// side with Artillery, samples the node's RSS, and exits non-zero when an acknowledged message
// was lost, any error was counted, or nothing was acknowledged at all.
//   smoke: LT_DURATION_S (default 30)        soak (`npm run soak`): SOAK_DURATION_S (default 3600)
//   LT_ARRIVAL_RATE: new virtual users per second and transport (default 2)
// It prints a short summary (sent, acknowledged, lost, duplicated, latencies), ending with a line
// `LOADTEST_RESULT {json}` for scripts and tests; the node's and Artillery's own output goes to
// a log file whose path the summary gives.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/helpers/cluster.js';
import { formatSummary, missingReport, transportResult, type ArtilleryReport, type RunResult, type TransportResult } from './summary.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const LOADTEST = join(ROOT, 'loadtest');
const ARTILLERY = join(LOADTEST, 'node_modules/artillery/bin/run');
const START_DEADLINE_MS = 30_000;
/** Artillery's own start-up and the last virtual users' wait come on top of the phase. */
const OVERRUN_MS = 180_000;

const arg = process.argv[2];
if (arg !== 'smoke' && arg !== 'soak') {
  process.stderr.write('usage: tsx loadtest/run.ts smoke|soak\n');
  process.exit(2);
}
const mode: 'smoke' | 'soak' = arg;
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

/** Lines of a child's output, prefixed, to the run's log file. */
function relay(child: ChildProcess, prefix: string, log: WriteStream): void {
  for (const stream of [child.stdout, child.stderr]) {
    let rest = '';
    stream?.on('data', (chunk: Buffer) => {
      const lines = (rest + chunk.toString()).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) log.write(`${prefix} ${line}\n`);
    });
  }
}

async function startNode(secret: string, log: WriteStream): Promise<{ port: number; exited: Promise<number> }> {
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
  relay(child, '[node]', log);
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

async function artillery(script: string, target: string, secret: string, runId: string, out: string, log: WriteStream): Promise<TransportResult> {
  const overrides = { config: { phases: [{ name: 'chat', duration: durationS, arrivalRate }] } };
  const child = spawn(process.execPath, [ARTILLERY, 'run', '--target', target, '--overrides', JSON.stringify(overrides), '--output', out, script], {
    cwd: LOADTEST,
    env: { ...process.env, JWT_SECRET: secret, LT_RUN_ID: runId, ARTILLERY_DISABLE_TELEMETRY: 'true', DO_NOT_TRACK: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = track(child);
  relay(child, `[${script}]`, log);
  const timer = setTimeout(() => child.kill('SIGKILL'), durationS * 1000 + OVERRUN_MS);
  const exitCode = await exited;
  clearTimeout(timer);
  if (!existsSync(out)) return missingReport(exitCode);
  return transportResult(exitCode, JSON.parse(readFileSync(out, 'utf8')) as ArtilleryReport);
}

async function main(): Promise<boolean> {
  if (!existsSync(ARTILLERY)) throw new Error('Artillery is not installed: run `npm ci --prefix loadtest`');
  const secret = randomBytes(32).toString('base64url');
  const runId = randomBytes(4).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), 'parley-loadtest-'));
  const logPath = join(dir, `${mode}.log`);
  const log = createWriteStream(logPath);
  process.stdout.write(`loadtest ${mode}: full log in ${logPath}\n`);
  const node = await startNode(secret, log);
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
    artillery('ws.yml', `ws://127.0.0.1:${node.port}`, secret, runId, join(dir, 'ws.json'), log),
    artillery('socketio.yml', `http://127.0.0.1:${node.port}`, secret, runId, join(dir, 'socketio.json'), log),
  ]);
  clearInterval(sampler);
  await sample();
  const first = samples[0]?.rss;
  const last = samples.at(-1)?.rss;
  const errors = ws.errors + sio.errors + ws.failedVusers + sio.failedVusers;
  const acked = ws.acked + sio.acked;
  const lost = ws.lost + sio.lost;
  const nodeCrashed = nodeExit !== undefined;
  const result: RunResult = {
    mode,
    durationS,
    arrivalRate,
    ws,
    socketio: sio,
    sent: ws.sent + sio.sent,
    acked,
    lost,
    duplicated: ws.duplicated + sio.duplicated,
    errors,
    nodeCrashed,
    rss: {
      startMb: first === undefined ? null : first / 1e6,
      endMb: last === undefined ? null : last / 1e6,
      growthMbPerHour: growthMbPerHour(samples),
      samples: samples.length,
    },
    ok: lost === 0 && errors === 0 && acked > 0 && ws.exitCode === 0 && sio.exitCode === 0 && !nodeCrashed,
    log: logPath,
  };
  await new Promise<void>((resolve) => log.end(resolve));
  process.stdout.write(formatSummary(result, MIN_GROWTH_SPAN_S));
  // The smoke keeps only its log; a soak keeps Artillery's reports next to it.
  if (mode === 'smoke') for (const f of ['ws.json', 'socketio.json']) rmSync(join(dir, f), { force: true });
  return result.ok;
}

main().then(
  (ok) => process.exit(ok ? 0 : 1),
  (err: unknown) => {
    process.stderr.write(`loadtest: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
