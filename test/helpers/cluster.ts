import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { once } from 'node:events';
import type { TestNode } from './node.js';
import { nodeClients, TEST_ADMIN_TOKEN, TEST_SECRET } from './node.js';

/**
 * A loopback port free now, below Linux's ephemeral range (32768 and up): the kernel never hands
 * it out as the source port of an outgoing connection, so a server killed and started again on
 * it (the cluster fault tests) finds it still free even while the machine opens many connections.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = LOW_PORTS.from + Math.floor(Math.random() * (LOW_PORTS.to - LOW_PORTS.from));
    const srv = createServer();
    const listening = once(srv, 'listening').then(
      () => true,
      () => false,
    );
    srv.once('error', () => undefined);
    srv.listen(port, '127.0.0.1');
    if (await listening) {
      await new Promise((r) => srv.close(r));
      return port;
    }
  }
  throw new Error(`no free loopback port in ${LOW_PORTS.from}-${LOW_PORTS.to} after 200 tries`);
}

const LOW_PORTS = { from: 20_000, to: 32_700 };

export interface ProcessNode extends TestNode {
  child: ChildProcess;
  nodeId: string;
  /** Everything the process printed. */
  output: string[];
  /** Resolves with the exit code (or signal) when the process ends. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

/**
 * Spawns a real gateway process (`src/cli.ts` through tsx) on a free loopback port and waits
 * until it logs that it listens. `env` adds to a test configuration with known secrets.
 */
export async function spawnNode(nodeId: string, env: Record<string, string>, timeoutMs = 20_000): Promise<ProcessNode> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts'], {
    env: {
      PATH: process.env['PATH'] ?? '',
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      PORT: String(port),
      NODE_ID: nodeId,
      JWT_SECRET: TEST_SECRET,
      ADMIN_TOKEN: TEST_ADMIN_TOKEN,
      LOG_LEVEL: 'info',
      DRAIN_S: '0',
      QUEUE_MAX_BYTES: String(16 * 1024 * 1024),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node ${nodeId} did not start within ${timeoutMs} ms:\n${output.join('')}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      output.push(chunk.toString());
      if (chunk.toString().includes('parley is listening')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (c: Buffer) => output.push(c.toString()));
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`node ${nodeId} exited with ${code} before listening:\n${output.join('')}`));
    });
  });
  return {
    child,
    nodeId,
    output,
    exited,
    node: undefined as never,
    config: undefined as never,
    ...nodeClients(port, new TextEncoder().encode(TEST_SECRET), TEST_ADMIN_TOKEN),
    kill: (signal = 'SIGKILL') => {
      child.kill(signal);
    },
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}
