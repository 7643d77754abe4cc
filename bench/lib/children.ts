import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../test/helpers/cluster.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BENCH_SECRET = `bench-secret-${randomBytes(16).toString('hex')}`;
const BENCH_ADMIN = `bench-admin-${randomBytes(8).toString('hex')}`;
const READY_DEADLINE_MS = 30_000;
const OUTPUT_LINES = 40;
/** Raises the open-file limit (10,000 sockets per process need more than the usual 1,024). */
const ULIMIT_WRAPPER = 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"';

const live = new Set<ChildProcess>();

/** Every child still running gets SIGKILL: on exit, on signals, on uncaught errors. */
export function killAll(): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}
process.on('exit', killAll);

export interface Proc {
  name: string;
  child: ChildProcess;
  pid: number;
  /** The last lines the process printed, for error messages. */
  output: string[];
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/**
 * Spawns `node --import tsx <script>` behind the ulimit wrapper (`exec` keeps the pid node's);
 * `preload` adds bench/servers/preload.ts (SIGUSR2: full GC; exit when the bench is gone);
 * `nice` lowers the process's CPU priority (a load that must not take the CPU from what it measures).
 */
export function spawnTs(name: string, script: string, env: Record<string, string>, opts: { ipc?: boolean; preload?: boolean; nice?: number } = {}): Proc {
  const stdio: StdioOptions = opts.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'];
  const hook = opts.preload ? ['--expose-gc', '--import', './bench/servers/preload.ts'] : [];
  const nice = opts.nice ? ['nice', '-n', String(opts.nice)] : [];
  const child = spawn('/bin/sh', ['-c', ULIMIT_WRAPPER, 'sh', ...nice, process.execPath, '--import', 'tsx', ...hook, script], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', BENCH_PARENT_PID: String(process.pid), ...env },
    stdio,
  });
  live.add(child);
  const output: string[] = [];
  const keep = (chunk: Buffer): void => {
    output.push(...chunk.toString().split('\n').filter((l) => l.length > 0));
    if (output.length > OUTPUT_LINES) output.splice(0, output.length - OUTPUT_LINES);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      live.delete(child);
      resolve(code);
    }),
  );
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  return { name, child, pid: child.pid ?? 0, output, exited, stop };
}

export type ServerKind = 'raw-uws' | 'stock-sio' | 'parley' | 'publish-hook';

export interface Server extends Proc {
  kind: ServerKind;
  port: number;
}

/** Starts a server and waits until it answers HTTP (GET /mem or /healthz). */
export async function startServer(kind: ServerKind, name: string, env: Record<string, string> = {}): Promise<Server> {
  const port = await freePort();
  const script = kind === 'parley' ? 'src/cli.ts' : `bench/servers/${kind}.ts`;
  const parleyEnv: Record<string, string> =
    kind === 'parley'
      ? {
          NODE_ENV: 'production',
          HOST: '127.0.0.1',
          NODE_ID: name,
          JWT_SECRET: BENCH_SECRET,
          ADMIN_TOKEN: BENCH_ADMIN,
          LOG_LEVEL: 'warn',
          DRAIN_S: '0',
          // The publisher sends thousands of frames per second on one connection.
          RATE_PER_S: '100000',
          RATE_BURST: '100000',
          MAX_CONNS_PER_USER: '100000',
        }
      : {};
  const proc = spawnTs(name, script, { PORT: String(port), ...parleyEnv, ...(kind === 'parley' ? otelEnv() : {}), ...env }, { preload: true });
  const path = kind === 'parley' ? '/healthz' : '/mem';
  const deadline = Date.now() + READY_DEADLINE_MS;
  let exitCode: number | null | undefined;
  void proc.exited.then((c) => (exitCode = c ?? -1));
  for (;;) {
    if (exitCode !== undefined) {
      const why = proc.output.findLast((l) => /error|fail|refuse|invalid/i.test(l)) ?? '';
      throw new Error(`${name} exited (${exitCode}) before answering: ${why.trim()}\n${proc.output.join('\n')}`);
    }
    if (Date.now() > deadline) {
      await proc.stop();
      throw new Error(`${name} did not answer ${path} within ${READY_DEADLINE_MS} ms:\n${proc.output.join('\n')}`);
    }
    const ok = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(1000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { ...proc, kind, port };
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The bench's own OTEL_* variables, for Parley servers: a run with tracing on sets them. */
function otelEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[0].startsWith('OTEL_') && e[1] !== undefined));
}

/** Stops every given process, whatever happens to the others. */
export async function stopAll(procs: readonly (Proc | undefined)[]): Promise<void> {
  await Promise.allSettled(procs.flatMap((p) => (p ? [p.stop()] : [])));
}
