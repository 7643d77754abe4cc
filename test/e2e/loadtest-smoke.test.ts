import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The Artillery smoke (loadtest/run.ts): a node of its own, ws.yml and socketio.yml for 30 s
// with real tokens, joins, typing and chat; every acknowledged message must reach its sender.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ARTILLERY = `${ROOT}loadtest/node_modules/artillery/bin/run`;
const RESULT = 'LOADTEST_RESULT ';

let running: ChildProcess | undefined;

function run(cmd: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    running = child;
    let output = '';
    const keep = (chunk: Buffer) => {
      output += chunk.toString();
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', reject);
    child.on('exit', (code) => {
      running = undefined;
      resolve({ code, output });
    });
  });
}

beforeAll(async () => {
  // scripts/services.sh installs it before `npm test`; this covers running the file alone.
  if (existsSync(ARTILLERY)) return;
  const { code, output } = await run('npm', ['ci', '--prefix', 'loadtest', '--no-audit', '--no-fund'], { PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: '1' });
  expect(code, output.slice(-2000)).toBe(0);
}, 600_000);

afterAll(() => {
  // SIGTERM: the runner kills its node and Artillery processes on the way out.
  running?.kill('SIGTERM');
});

describe('loadtest smoke', () => {
  it('30 s of chat over /ws and Socket.IO loses no acknowledged message and counts no error', async () => {
    const { code, output } = await run(process.execPath, ['--import', 'tsx', 'loadtest/run.ts', 'smoke'], { LT_DURATION_S: '30' });
    const line = output.split('\n').find((l) => l.startsWith(RESULT));
    expect(line, output.slice(-4000)).toBeDefined();
    const result = JSON.parse(line!.slice(RESULT.length));
    expect(result.acked).toBeGreaterThan(0);
    expect(result.lost).toBe(0);
    expect(result.errors).toBe(0);
    expect(result.nodeCrashed).toBe(false);
    expect(result.sent).toBeGreaterThanOrEqual(result.acked);
    expect(result.duplicated).toBe(0);
    expect(code, output.slice(-4000)).toBe(0);
    // A short summary on the terminal; the node's and Artillery's lines are in the named log.
    const lines = output.split('\n').filter((l) => l.trim() !== '');
    expect(lines.length, output).toBeLessThanOrEqual(10);
    expect(output).toMatch(/sent \d+, acknowledged \d+, lost 0, duplicated 0, errors 0/);
    expect(output).toContain(`full log: ${result.log}`);
    expect(readFileSync(result.log, 'utf8')).toMatch(/^\[ws\.yml\] /m);
  }, 120_000);
});
