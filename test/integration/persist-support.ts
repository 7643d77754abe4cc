import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { MongoClient, type Db } from 'mongodb';
import { connect, type NatsConnection, type StoredMsg } from 'nats';
import { afterAll, beforeAll } from 'vitest';
import { queueNames } from '../../src/bus/jetstream-streams.js';
import { loadConfig } from '../../src/config/index.js';
import type { ChatMessage } from '../../src/domain/messages.js';
import { createLogger } from '../../src/shared/logger.js';
import { runWorker, type RunningWorker } from '../../src/worker.js';
import { startNode, type TestNode } from '../helpers/node.js';
import { requireMongo, requireNats, requireRedis, uniquePrefix } from '../helpers/services.js';
import { startPrivateRedis, type PrivateRedis } from '../helpers/services-private.js';

/** Shared by the persistence integration tests (queue, worker, crash, outage). */

export const NATS_URL = 'nats://127.0.0.1:4222';
export const MONGO_URL = 'mongodb://127.0.0.1:27017';

export function message(room: string, seq: number, over: Partial<ChatMessage> = {}): ChatMessage {
  return { room, seq, cid: `c${seq}`, from: 'alice', body: `m${seq}`, ts: 1_700_000_000_000 + seq, ...over };
}

/** Polls `probe` until it returns true, failing with `what` (and the last value seen) at the deadline. */
export async function eventually(what: string, probe: () => Promise<boolean | { ok: boolean; seen: unknown }>, deadlineMs = 30_000, everyMs = 50): Promise<void> {
  const end = Date.now() + deadlineMs;
  let seen: unknown;
  for (;;) {
    const r = await probe();
    const ok = typeof r === 'boolean' ? r : r.ok;
    if (typeof r !== 'boolean') seen = r.seen;
    if (ok) return;
    if (Date.now() > end) throw new Error(`${what}: not within ${deadlineMs} ms (last seen: ${JSON.stringify(seen)})`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Waits until the persist consumer has delivered every queued message and got every ack back
 * (a worker acks only after the write): cheaper to poll than counting the database.
 */
export async function consumerDrained(nc: NatsConnection, prefix: string, deadlineMs: number): Promise<void> {
  const jsm = await nc.jetstreamManager();
  const names = queueNames(prefix);
  await eventually(
    'the persist consumer drained',
    async () => {
      const info = await jsm.consumers.info(names.stream, names.consumer);
      return { ok: info.num_pending === 0 && info.num_ack_pending === 0 && info.num_redelivered === 0, seen: { pending: info.num_pending, ackPending: info.num_ack_pending, delivered: info.delivered } };
    },
    deadlineMs,
    250,
  );
}

export async function natsConnection(): Promise<NatsConnection> {
  return connect({ servers: NATS_URL, name: 'parley-test' });
}

/** Deletes the deployment's queue and dead-letter streams (those that exist). */
export async function deleteStreams(nc: NatsConnection, prefix: string): Promise<void> {
  const jsm = await nc.jetstreamManager();
  const names = queueNames(prefix);
  for (const stream of [names.stream, names.deadStream]) await jsm.streams.delete(stream).catch(() => false);
}

/** Every message of the dead-letter stream, oldest first. */
export async function deadLetters(nc: NatsConnection, prefix: string): Promise<StoredMsg[]> {
  const jsm = await nc.jetstreamManager();
  const stream = queueNames(prefix).deadStream;
  const { state } = await jsm.streams.info(stream);
  const out: StoredMsg[] = [];
  for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) out.push(await jsm.streams.getMessage(stream, { seq }));
  return out;
}

export async function mongoClient(url = MONGO_URL): Promise<MongoClient> {
  return new MongoClient(url, { serverSelectionTimeoutMS: 5_000 }).connect();
}

/** Stored (room, seq, cid) of a database's messages, as "room:seq:cid" strings. */
export async function storedKeys(client: MongoClient, db: string): Promise<string[]> {
  const docs = await client.db(db).collection('messages').find({}, { projection: { _id: 0, room: 1, seq: 1, cid: 1 } }).toArray();
  return docs.map((d) => `${d.room}:${d.seq}:${d.cid}`);
}

export async function countStored(client: MongoClient, db: string): Promise<number> {
  return client.db(db).collection('messages').countDocuments();
}

/** The counter's value on a prom-client registry (summed over labels matching `labels`). */
export async function metricValue(registry: { getSingleMetric(name: string): unknown }, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = registry.getSingleMetric(name) as { get(): Promise<{ values: { value: number; labels: Record<string, unknown> }[] }> } | undefined;
  if (!metric) return 0;
  const { values } = await metric.get();
  return values.filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want)).reduce((a, v) => a + v.value, 0);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** The FerretDB binary scripts/services.sh runs (read from its live process), else GOPATH's. */
function ferretBinary(): string {
  try {
    const pid = readFileSync(join(process.cwd(), '.services/ferretdb.pid'), 'utf8').trim();
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    const go = ['go', '/usr/local/go/bin/go'].find((g) => {
      try {
        execFileSync(g, ['version'], { stdio: 'ignore' });
        return true;
      } catch {
        return false;
      }
    });
    if (!go) throw new Error('FerretDB is not running from scripts/services.sh and go is missing: cannot find its binary');
    return `${execFileSync(go, ['env', 'GOPATH'], { encoding: 'utf8' }).trim().split(':')[0]}/bin/ferretdb`;
  }
}

/**
 * A FerretDB of this test's own, on a free port and a PostgreSQL database of its own, so that
 * stopping it (the outage under test) disturbs no other test file running at the same time.
 */
export class PrivateFerret {
  private child: ChildProcess | undefined;
  private readonly stateDir = mkdtempSync(join(tmpdir(), 'parley-ferret-'));
  private constructor(
    private readonly bin: string,
    readonly port: number,
  ) {}

  static async start(pgDatabase = 'parley_ferret_outage'): Promise<PrivateFerret> {
    try {
      execFileSync('createdb', ['-h', '127.0.0.1', '-U', 'postgres', pgDatabase], { stdio: 'pipe' });
    } catch (err) {
      if (!String((err as { stderr?: Buffer }).stderr).includes('already exists')) throw err;
    }
    const f = new PrivateFerret(ferretBinary(), await freePort());
    await f.up(pgDatabase);
    return f;
  }

  get url(): string {
    return `mongodb://127.0.0.1:${this.port}`;
  }

  private pg = '';
  private async up(pgDatabase = this.pg): Promise<void> {
    this.pg = pgDatabase;
    const args = [
      '--handler=postgresql',
      `--postgresql-url=postgres://127.0.0.1:5432/${pgDatabase}`,
      `--listen-addr=127.0.0.1:${this.port}`,
      '--telemetry=disable',
      `--state-dir=${this.stateDir}`,
      '--debug-addr=-',
    ];
    const child = spawn(this.bin, args, { stdio: 'ignore' });
    this.child = child;
    // Never outlive the test process, even when it dies without running afterAll.
    const reap = () => child.kill('SIGKILL');
    process.once('exit', reap);
    child.once('exit', () => process.off('exit', reap));
    await eventually('the private FerretDB answers', async () => {
      const c = new MongoClient(this.url, { serverSelectionTimeoutMS: 500 });
      try {
        await c.db('admin').command({ ping: 1 });
        return true;
      } catch {
        return false;
      } finally {
        await c.close();
      }
    });
  }

  /** kill -9, then waits for the process to be gone. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
  }

  /** Starts it again (same port and data) if it is not running. */
  async restart(): Promise<void> {
    if (!this.child) await this.up();
  }

  async close(): Promise<void> {
    await this.kill();
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}

/** A gateway with the whole durable path, from `persistedGateway`. */
export interface PersistedGateway {
  readonly prefix: string;
  readonly redis: PrivateRedis;
  readonly node: TestNode;
  readonly database: Db;
}

/**
 * One gateway with the whole durable path for a describe block: a private Redis (tests flush
 * it), the shared NATS (JetStream queue) and MongoDB (database `prefix`) through an in-process
 * worker, `env` added. Everything goes in afterAll, the queue's streams and the database too.
 */
export function persistedGateway(name: string, env: Record<string, string>): () => PersistedGateway {
  const prefix = uniquePrefix(name);
  let gw: PersistedGateway | undefined;
  let worker: RunningWorker | undefined;
  let nc: NatsConnection | undefined;
  let mongo: MongoClient | undefined;
  let redis: PrivateRedis | undefined;
  beforeAll(async () => {
    await Promise.all([requireRedis(), requireNats(), requireMongo()]);
    redis = await startPrivateRedis();
    const all = { REDIS_URL: redis.url, NATS_URL, MONGODB_URL: `${MONGO_URL}/${prefix}`, KEY_PREFIX: prefix, ...env };
    const node = await startNode(all);
    worker = await runWorker(loadConfig({ ...all, NODE_ENV: 'test' }, { role: 'worker' }).config, createLogger('silent'));
    nc = await natsConnection();
    mongo = await mongoClient();
    gw = { prefix, redis, node, database: mongo.db(prefix) };
  }, 60_000);
  afterAll(async () => {
    await gw?.node.close();
    await worker?.close();
    if (nc) await deleteStreams(nc, prefix).finally(() => nc?.close());
    await gw?.database.dropDatabase().catch(() => undefined);
    await mongo?.close();
    await redis?.close();
  });
  return () => {
    if (!gw) throw new Error('the persisted gateway did not start');
    return gw;
  };
}
