// A throwaway 3-shard Redis Cluster for tests: `redis-server --cluster-enabled yes` children on
// free loopback ports in a temp dir, joined with `redis-cli --cluster create`, three primaries
// and optionally replicas of each. Start it in beforeAll, stop it in afterAll; nothing persists
// (no RDB, no AOF). A node can be killed (-9) and started again: it keeps its cluster identity
// (its nodes.conf) and rejoins, as a replica if its replica took over meanwhile.
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

export interface RedisClusterOptions {
  /** Replicas of each primary (`--cluster-replicas`). Default 0. */
  replicas?: number;
  /** `cluster-node-timeout`: how long a primary may be silent before its replica takes over. Default Redis's 15 s. */
  nodeTimeoutMs?: number;
}

export interface RedisClusterHandle {
  /** `host:port` of every node, as REDIS_CLUSTER_NODES takes them. */
  nodes: string[];
  /** The same, as ioredis `Cluster` startup nodes. */
  startupNodes: { host: string; port: number }[];
  /** kill -9 of the node on `port`; resolves once it exited. */
  kill(port: number): Promise<void>;
  /** Starts the node on `port` again (same dir and nodes.conf); resolves once it answers. */
  start(port: number): Promise<void>;
  /** The port of the primary serving `key`'s slot, as a running node tells it. */
  primaryFor(key: string): Promise<number>;
  /**
   * Resolves once every running node reports `cluster_state:ok` and `key`'s slot is served by a
   * running primary (after a kill: its replica took over); rejects after `ms`.
   */
  untilServing(key: string, ms: number): Promise<number>;
  /** Kills the servers and removes their directory; idempotent. */
  stop(): Promise<void>;
}

/** Starts a local 3-primary Redis Cluster and resolves once every node reports `cluster_state:ok`. */
export async function startRedisCluster(opts: RedisClusterOptions = {}): Promise<RedisClusterHandle> {
  for (const tool of ['redis-server', 'redis-cli']) {
    const version = await run(tool, ['--version']);
    if (version.code !== 0) throw new Error(`${tool} is needed for the Redis Cluster tests: ${version.output}`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'parley-redis-cluster-'));
  const children = new Map<number, ChildProcess>();
  const output: string[] = [];
  const replicas = opts.replicas ?? 0;
  let stopped: Promise<void> | undefined;
  // One backstop for every node: never outlive the test process, even when it dies unclosed.
  const backstop = (): void => children.forEach((c) => c.kill('SIGKILL'));
  process.once('exit', backstop);
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      process.off('exit', backstop);
      await Promise.all([...children.values()].map(stopChild));
      await rm(dir, { recursive: true, force: true });
    })());
  const spawnNode = (port: number): void => {
    const child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--cluster-enabled', 'yes',
        '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--save', '', '--appendonly', 'no',
        ...(opts.nodeTimeoutMs !== undefined ? ['--cluster-node-timeout', String(opts.nodeTimeoutMs)] : [])],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.on('data', (c: Buffer) => output.push(c.toString()));
    child.stderr?.on('data', (c: Buffer) => output.push(c.toString()));
    child.on('error', (err) => output.push(`${err.message}\n`));
    children.set(port, child);
  };
  const running = (): number[] => [...children].filter(([, c]) => c.exitCode === null && c.signalCode === null).map(([p]) => p);
  try {
    const ports: number[] = [];
    while (ports.length < SHARDS * (1 + replicas)) {
      const port = await clusterPort(ports);
      ports.push(port);
    }
    ports.forEach(spawnNode);
    const deadline = Date.now() + STARTUP_DEADLINE_MS;
    await Promise.all(ports.map((port) => until(deadline, () => ping(port), `redis-server on ${port} to answer`, output)));
    const create = await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', String(replicas), '--cluster-yes']);
    if (create.code !== 0) throw new Error(`redis-cli --cluster create failed (${create.code}):\n${create.output}`);
    await Promise.all(ports.map((port) => until(deadline, () => clusterOk(port), `node ${port} to report cluster_state:ok`, output)));
    // Replicas report ok before their first sync finished: a failover needs them in sync.
    if (replicas > 0) await Promise.all(ports.map((port) => until(deadline, () => synced(port), `node ${port} to finish its replica sync`, output)));
    const primaryFor = async (key: string): Promise<number> => {
      let failure: unknown = new Error('no node runs');
      for (const port of running()) {
        try {
          return await withClient(port, (c) => slotPrimary(c, key));
        } catch (err) {
          failure = err;
        }
      }
      throw failure;
    };
    return {
      nodes: ports.map((p) => `127.0.0.1:${p}`),
      startupNodes: ports.map((port) => ({ host: '127.0.0.1', port })),
      async kill(port) {
        const child = children.get(port);
        if (!child || child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      },
      async start(port) {
        if (running().includes(port)) return;
        spawnNode(port);
        await until(Date.now() + STARTUP_DEADLINE_MS, () => ping(port), `redis-server on ${port} to answer again`, output);
      },
      primaryFor,
      async untilServing(key, ms) {
        let primary = 0;
        const ok = async (): Promise<boolean> => {
          const live = running();
          if (!(await Promise.all(live.map(clusterOk))).every(Boolean)) return false;
          primary = await primaryFor(key).catch(() => 0);
          return live.includes(primary);
        };
        await until(Date.now() + ms, ok, `a running primary to serve ${key} and every node to report cluster_state:ok`, output);
        return primary;
      },
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

/** A replica whose link to its primary is up and not syncing; a primary always. */
function synced(port: number): Promise<boolean> {
  return withClient(port, async (c) => {
    const info = await c.info('replication');
    return info.includes('role:master') || (info.includes('master_link_status:up') && info.includes('master_sync_in_progress:0'));
  }).catch(() => false);
}

/** The port of the primary that `c`'s node says serves `key`'s slot. */
async function slotPrimary(c: Redis, key: string): Promise<number> {
  const slot = Number(await c.call('CLUSTER', 'KEYSLOT', key));
  const slots = (await c.call('CLUSTER', 'SLOTS')) as [number, number, [string, number, ...unknown[]], ...unknown[]][];
  const range = slots.find(([from, to]) => slot >= from && slot <= to);
  if (!range) throw new Error(`no node serves slot ${slot} of ${key}`);
  return Number(range[2][1]);
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
