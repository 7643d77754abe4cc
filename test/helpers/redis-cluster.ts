// A throwaway 3-shard Redis Cluster for tests: three `redis-server --cluster-enabled yes`
// children on free loopback ports in a temp dir, joined with `redis-cli --cluster create`.
// Start it in beforeAll, stop it in afterAll; nothing persists (no RDB, no AOF).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './cluster.js';

const SHARDS = 3;
const BUS_PORT_OFFSET = 10_000;
const STARTUP_DEADLINE_MS = 20_000;

export interface RedisClusterHandle {
  /** `host:port` of every master, as REDIS_CLUSTER_NODES takes them. */
  nodes: string[];
  /** The same, as ioredis `Cluster` startup nodes. */
  startupNodes: { host: string; port: number }[];
  /** Kills the servers and removes their directory; idempotent. */
  stop(): Promise<void>;
}

/** Starts a local 3-master Redis Cluster and resolves once every node reports `cluster_state:ok`. */
export async function startRedisCluster(): Promise<RedisClusterHandle> {
  for (const tool of ['redis-server', 'redis-cli']) {
    const version = await run(tool, ['--version']);
    if (version.code !== 0) throw new Error(`${tool} is needed for the Redis Cluster tests: ${version.output}`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'parley-redis-cluster-'));
  const children: ChildProcess[] = [];
  const output: string[] = [];
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      await Promise.all(children.map(stopChild));
      await rm(dir, { recursive: true, force: true });
    })());
  try {
    const ports: number[] = [];
    while (ports.length < SHARDS) {
      const port = await clusterPort(ports);
      ports.push(port);
    }
    for (const port of ports) {
      const child = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--cluster-enabled', 'yes',
          '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--save', '', '--appendonly', 'no'],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      child.stdout?.on('data', (c: Buffer) => output.push(c.toString()));
      child.stderr?.on('data', (c: Buffer) => output.push(c.toString()));
      child.on('error', (err) => output.push(`${err.message}\n`));
      children.push(child);
    }
    const deadline = Date.now() + STARTUP_DEADLINE_MS;
    await Promise.all(ports.map((port) => until(deadline, () => ping(port), `redis-server on ${port} to answer`, output)));
    const create = await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
    if (create.code !== 0) throw new Error(`redis-cli --cluster create failed (${create.code}):\n${create.output}`);
    await Promise.all(ports.map((port) => until(deadline, () => clusterOk(port), `node ${port} to report cluster_state:ok`, output)));
    return {
      nodes: ports.map((p) => `127.0.0.1:${p}`),
      startupNodes: ports.map((port) => ({ host: '127.0.0.1', port })),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A free port below 55536 whose cluster bus port (+10000) is free too, not among `taken`. */
async function clusterPort(taken: number[]): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = await freePort();
    const bus = port + BUS_PORT_OFFSET;
    if (bus > 65535 || taken.includes(port) || taken.some((t) => t + BUS_PORT_OFFSET === port || t === bus)) continue;
    if (await isFree(bus)) return port;
  }
  throw new Error('found no free port pair (port, port + 10000) for a Redis Cluster node');
}

async function isFree(port: number): Promise<boolean> {
  const srv = createServer();
  return new Promise((resolve) => {
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

async function withClient<T>(port: number, fn: (c: Redis) => Promise<T>): Promise<T> {
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    return await fn(client);
  } finally {
    client.disconnect();
  }
}

function ping(port: number): Promise<boolean> {
  return withClient(port, async (c) => (await c.ping()) === 'PONG').catch(() => false);
}

function clusterOk(port: number): Promise<boolean> {
  return withClient(port, async (c) => String(await c.call('CLUSTER', 'INFO')).includes('cluster_state:ok')).catch(() => false);
}

async function until(deadline: number, check: () => Promise<boolean>, what: string, output: string[]): Promise<void> {
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${output.join('')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function run(cmd: string, args: string[]): Promise<{ code: number | null; output: string }> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  return new Promise((resolve) => {
    child.on('error', (err) => resolve({ code: null, output: err.message }));
    child.on('exit', (code) => resolve({ code, output }));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}
