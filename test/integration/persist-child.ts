import { spawn, type ChildProcess } from 'node:child_process';

/** A worker process (`node --import tsx <script> [args]`): one process, so kill -9 kills the worker itself. */
export interface WorkerProcess {
  child: ChildProcess;
  /** Resolves once the worker logged "persist worker started"; rejects if it exits first. */
  started: Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
}

export function spawnWorker(script: string, args: string[], env: Record<string, string>, startDeadlineMs = 20_000): WorkerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  child.once('exit', () => process.off('exit', reap));
  let out = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const started = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the worker did not start within ${startDeadlineMs} ms:\n${out}`)), startDeadlineMs);
    const seen = (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('"persist worker started"')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', seen);
    child.stderr?.on('data', seen);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`the worker exited (${code ?? signal}) before it started:\n${out}`));
    });
  });
  started.catch(() => undefined);
  return { child, started, exited, output: () => out };
}

/** Kills the process if it still runs and waits until it is gone. */
export async function stopProcess(p: WorkerProcess): Promise<void> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await p.exited;
}
