import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { mintToken } from '../../src/gateway/auth.js';
import { TestClient } from '../helpers/clients.js';
import { startNode, TEST_ADMIN_TOKEN, TEST_SECRET, type TestNode } from '../helpers/node.js';

/** README.md, "Operations" (SIGTERM drains), against the real CLI; and the heartbeat of the `hello` of docs/protocol.md. */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DRAIN_S = 2;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, deadlineMs = 10_000): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${deadlineMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface Child {
  proc: ChildProcess;
  exited: Promise<number | null>;
  output: () => string;
}

/** `parley serve` as a child process, resolved once it is listening. */
async function spawnCli(port: number): Promise<Child> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env['PATH'] ?? '',
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      PORT: String(port),
      JWT_SECRET: TEST_SECRET,
      ADMIN_TOKEN: TEST_ADMIN_TOKEN,
      DRAIN_S: String(DRAIN_S),
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const child = { proc, exited, output: () => out };
  await until('the CLI answering /healthz', async () => ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok ? true : undefined), 30_000).catch(
    (err: unknown) => {
      proc.kill('SIGKILL');
      throw new Error(`${String(err)}; output:\n${out}`);
    },
  );
  return child;
}

describe('SIGTERM on the CLI', () => {
  it('drains: readiness 503, new upgrades refused, clients get 1001 after DRAIN_S, exit code 0', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const child = await spawnCli(port);
    try {
      const target = { wsUrl: `ws://127.0.0.1:${port}/ws`, httpUrl: `http://127.0.0.1:${port}` } as TestNode;
      const token = async (user: string): Promise<string> => (await mintToken(new TextEncoder().encode(TEST_SECRET), { user, ttlS: 600, rooms: ['*'] })).token;
      const ws = await TestClient.connect('ws', target, await token('drain-ws'));
      const sio = await TestClient.connect('sio', target, await token('drain-sio'));
      await ws.join('drain-room');
      await sio.join('drain-room');
      expect((await fetch(`${target.httpUrl}/readyz`)).status).toBe(200);

      child.proc.kill('SIGTERM');
      const ready = await until('/readyz 503', async () => {
        const res = await fetch(`${target.httpUrl}/readyz`);
        return res.status === 503 ? ((await res.json()) as unknown) : undefined;
      });
      expect(ready).toMatchObject({ status: 'draining', checks: { draining: 'yes' } });
      // During DRAIN_S: no new connections, the open ones still served.
      expect(await TestClient.attempt('ws', target, await token('drain-late-ws'))).toEqual({ status: 503 });
      const lateSio = await TestClient.attempt('sio', target, await token('drain-late-sio'));
      expect(lateSio).not.toBeInstanceOf(TestClient);
      expect(lateSio).toHaveProperty('message');
      await ws.barrier();
      await sio.barrier();
      expect((await fetch(`${target.httpUrl}/healthz`)).status).toBe(200);

      expect(await ws.waitClosed((DRAIN_S + 5) * 1000)).toMatchObject({ code: 1001 });
      expect(await sio.waitClosed((DRAIN_S + 5) * 1000)).toMatchObject({ code: 1001 });
      expect(sio.received('bye')).toEqual([expect.objectContaining({ t: 'bye', code: 1001 })]);
      const code = await Promise.race([child.exited, new Promise<string>((resolve) => setTimeout(() => resolve('still running'), 10_000))]);
      expect(code, child.output()).toBe(0);
    } finally {
      child.proc.kill('SIGKILL');
    }
  });
});

describe('heartbeat', () => {
  it('drops a /ws client that answers no pings within a few heartbeats; a normal client survives', { timeout: 30_000 }, async () => {
    const node = await startNode({ HEARTBEAT_S: '1' });
    try {
      const normal = await TestClient.connect('ws', node, await node.token('hb-normal'));
      const sio = await TestClient.connect('sio', node, await node.token('hb-sio'));
      expect(normal.hello).toMatchObject({ heartbeat: 1 });
      const silent = new WebSocket(`${node.wsUrl}?token=${encodeURIComponent(await node.token('hb-silent'))}`);
      await new Promise((resolve) => silent.once('message', resolve));
      // Not reading means not seeing pings, so no pong goes back.
      (silent as unknown as { _socket: Socket })._socket.pause();
      const devices = async (user: string): Promise<number> => ((await node.admin('GET', `/admin/users/${user}/presence`)).body as { devices: number }).devices;
      expect(await devices('hb-silent')).toBe(1);

      // Silent for two heartbeats (2 s) means dropped: allow a few more for its slot to come round.
      await until('the silent client dropped', async () => ((await devices('hb-silent')) === 0 ? true : undefined), 8_000);
      // Both normal clients were idle just as long and are still there.
      await normal.barrier();
      await sio.barrier();
      expect(await devices('hb-normal')).toBe(1);
      expect(await devices('hb-sio')).toBe(1);
      normal.close();
      sio.close();
      silent.terminate();
    } finally {
      await node.close();
    }
  });
});
