// The cluster under fault: a private Redis and a private NATS with JetStream (they are stopped,
// flushed and restarted), the shared FerretDB with a database of its own, gateway and persist
// worker processes, and a Toxiproxy proxy on every link from a process to a service, so one
// link can be slowed, cut or blackholed without touching the others. Each process has a slot
// that keeps its proxies across kills and restarts.
import { type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { spawnWorker, type WorkerProcess } from '../integration/persist-child.js';
import { spawnNodes } from '../cluster/support.js';
import type { ProcessNode } from '../helpers/cluster.js';
import { TEST_ADMIN_TOKEN } from '../helpers/node.js';
import { requireMongo, uniquePrefix } from '../helpers/services.js';
import { startPrivateNats, startPrivateRedis, type PrivateRedis, type PrivateService } from '../helpers/services-private.js';
import { ToxiproxyServer, type Proxy } from '../helpers/toxiproxy.js';
import type { StoredMessage } from './history.js';
import { pick, type Rng } from './random.js';

export type Service = 'redis' | 'nats' | 'mongo';

export interface ClusterOptions {
  name: string;
  gateways: number;
  workers: number;
  /** The gateways' fan-out bus: NATS (the default) or Redis pub/sub (JetStream then only queues). */
  bus?: 'nats' | 'redis';
  /** Added to every gateway's environment. */
  env?: Record<string, string>;
  /** Where every process's whole output is kept, one file per slot (`g1.log`, `w1.log`), across restarts. */
  logDir?: string;
}

/** Timings that keep faults and their recovery within a test's minutes. */
export const NODE_TTL_S = 5;
export const WORKER_ACK_WAIT_MS = 5_000;
const GATEWAY_ENV = {
  NODE_TTL_S: String(NODE_TTL_S),
  PRESENCE_GRACE_S: '1',
  HEARTBEAT_S: '5',
  RATE_PER_S: '200',
  RATE_BURST: '400',
  MAX_CONNS_PER_USER: '6',
  LOG_LEVEL: 'info',
};
const OUTPUT_KEPT = 300;
const ADMIN_DEADLINE_MS = 3_000;

interface Slot {
  readonly id: string;
  readonly links: Readonly<Partial<Record<Service, Proxy>>>;
  incarnation: number;
  paused: boolean;
}

export interface GatewaySlot extends Slot {
  node: ProcessNode | undefined;
}

export interface WorkerSlot extends Slot {
  worker: WorkerProcess | undefined;
}

export class FaultCluster {
  readonly gateways: GatewaySlot[] = [];
  readonly workers: WorkerSlot[] = [];
  private readonly trimmer: NodeJS.Timeout;

  private constructor(
    readonly opts: ClusterOptions,
    readonly prefix: string,
    readonly redis: PrivateRedis,
    readonly nats: PrivateService,
    readonly toxiproxy: ToxiproxyServer,
    readonly mongo: MongoClient,
  ) {
    // Gateways log at info (spawnNode waits for a log line): keep only their recent output.
    this.trimmer = setInterval(() => this.gateways.forEach((g) => g.node?.output.splice(0, Math.max(0, g.node.output.length - OUTPUT_KEPT))), 5_000);
    this.trimmer.unref();
  }

  static async start(opts: ClusterOptions): Promise<FaultCluster> {
    await requireMongo();
    const prefix = uniquePrefix(opts.name);
    const started: { close(): Promise<void> }[] = [];
    try {
      const redis = await startPrivateRedis();
      started.push(redis);
      const nats = await startPrivateNats();
      started.push(nats);
      const toxiproxy = await ToxiproxyServer.start();
      started.push(toxiproxy);
      const mongo = await new MongoClient('mongodb://127.0.0.1:27017', { serverSelectionTimeoutMS: 5_000 }).connect();
      started.push(mongo);
      const cluster = new FaultCluster(opts, prefix, redis, nats, toxiproxy, mongo);
      started.push(cluster);
      for (let i = 0; i < opts.gateways; i++) {
        const id = `g${i + 1}`;
        const links = { redis: await toxiproxy.createProxy(`${id}-redis`, `127.0.0.1:${redis.port}`), nats: await toxiproxy.createProxy(`${id}-nats`, `127.0.0.1:${nats.port}`), mongo: await toxiproxy.createProxy(`${id}-mongo`, '127.0.0.1:27017') };
        cluster.gateways.push({ id, links, incarnation: 0, paused: false, node: undefined });
      }
      for (let i = 0; i < opts.workers; i++) {
        const id = `w${i + 1}`;
        const links = { nats: await toxiproxy.createProxy(`${id}-nats`, `127.0.0.1:${nats.port}`), mongo: await toxiproxy.createProxy(`${id}-mongo`, '127.0.0.1:27017') };
        cluster.workers.push({ id, links, incarnation: 0, paused: false, worker: undefined });
      }
      // Workers first: they create the queue's streams and consumer the gateways append to.
      await Promise.all(cluster.workers.map((w) => cluster.startWorker(w)));
      await Promise.all(cluster.gateways.map((g) => cluster.startGateway(g)));
      return cluster;
    } catch (err) {
      for (const s of started.reverse()) await s.close().catch((e: unknown) => console.error('closing after a failed cluster start failed', e));
      throw err;
    }
  }

  /** The database the workers write (the key prefix). */
  get database(): string {
    return this.prefix;
  }

  /** The `/ws` URL of a gateway whose process exists (a paused one too: clients find out by themselves). */
  gatewayUrl(rng: Rng): string | undefined {
    const up = this.gateways.flatMap((g) => (g.node ? [g.node] : []));
    return up.length === 0 ? undefined : pick(rng, up).wsUrl;
  }

  async startGateway(slot: GatewaySlot): Promise<void> {
    if (slot.node) return;
    const { links } = slot;
    const env = {
      ...GATEWAY_ENV,
      KEY_PREFIX: this.prefix,
      REDIS_URL: need(links.redis).url('redis'),
      NATS_URL: need(links.nats).url('nats'),
      MONGODB_URL: need(links.mongo).url('mongodb', `/${this.database}?directConnection=true`),
      ...(this.opts.bus === 'redis' ? { BUS: 'redis' } : {}),
      ...this.opts.env,
    };
    const [node] = await spawnNodes([`${this.prefix}-${slot.id}-${++slot.incarnation}`], env);
    if (!node) throw new Error(`gateway ${slot.id} did not start`);
    // Never outlive the test process, even when it dies without closing the cluster.
    const backstop = (): void => void node.child.kill('SIGKILL');
    process.once('exit', backstop);
    void node.exited.then(() => process.off('exit', backstop));
    this.keepOutput(slot.id, node.nodeId, node.output.join(''), node.child);
    slot.node = node;
    slot.paused = false;
  }

  async startWorker(slot: WorkerSlot): Promise<void> {
    if (slot.worker) return;
    const env = {
      KEY_PREFIX: this.prefix,
      NODE_ID: `${this.prefix}-${slot.id}-${++slot.incarnation}`,
      NATS_URL: need(slot.links.nats).url('nats'),
      MONGODB_URL: need(slot.links.mongo).url('mongodb', `/${this.database}?directConnection=true`),
      LOG_LEVEL: 'info',
      QUEUE_MAX_BYTES: String(16 * 1024 * 1024),
      TEST_ACK_WAIT_MS: String(WORKER_ACK_WAIT_MS),
      TEST_BATCH_SIZE: '100',
      ...this.opts.env,
    };
    const worker = spawnWorker('test/integration/persist-worker-child.ts', [], env);
    await worker.started;
    this.keepOutput(slot.id, env.NODE_ID, worker.output(), worker.child);
    slot.worker = worker;
    slot.paused = false;
  }

  /** With `logDir`: appends what the process printed so far, then everything it prints. */
  private keepOutput(slot: string, incarnation: string, sofar: string, child: ChildProcess): void {
    const dir = this.opts.logDir;
    if (dir === undefined) return;
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${slot}.log`);
    appendFileSync(file, `=== ${new Date().toISOString()} ${incarnation} started\n${sofar}`);
    const write = (chunk: Buffer): void => appendFileSync(file, chunk);
    child.stdout?.on('data', write);
    child.stderr?.on('data', write);
  }

  /** kill -9; the slot stays empty until `startGateway`. */
  async killGateway(slot: GatewaySlot): Promise<void> {
    const node = slot.node;
    if (!node) return;
    slot.node = undefined;
    node.kill('SIGKILL');
    await node.exited;
    slot.paused = false;
  }

  async killWorker(slot: WorkerSlot): Promise<void> {
    const worker = slot.worker;
    if (!worker) return;
    slot.worker = undefined;
    worker.child.kill('SIGKILL');
    await worker.exited;
    slot.paused = false;
  }

  /** kill -9 of a gateway or a worker. */
  kill(slot: GatewaySlot | WorkerSlot): Promise<void> {
    return 'node' in slot ? this.killGateway(slot) : this.killWorker(slot);
  }

  /** Starts a gateway or a worker in its slot again (nothing if it runs). */
  start(slot: GatewaySlot | WorkerSlot): Promise<void> {
    return 'node' in slot ? this.startGateway(slot) : this.startWorker(slot);
  }

  /** SIGSTOP (`on`) or SIGCONT: the process keeps its sockets but answers nothing meanwhile. */
  freeze(slot: GatewaySlot | WorkerSlot, on: boolean): void {
    const child = 'node' in slot ? slot.node?.child : slot.worker?.child;
    if (!child || slot.paused === on) return;
    child.kill(on ? 'SIGSTOP' : 'SIGCONT');
    slot.paused = on;
  }

  /** Every proxy of a service (or all). */
  links(service?: Service): Proxy[] {
    return [...this.gateways, ...this.workers].flatMap((s) => Object.entries(s.links).filter(([k]) => !service || k === service).map(([, p]) => p));
  }

  /** Undoes every fault: links clean, processes running and unfrozen, Redis and NATS up. */
  async heal(): Promise<void> {
    await this.toxiproxy.reset();
    if (!this.redis.running) await this.redis.start();
    if (!this.nats.running) await this.nats.start();
    for (const slot of [...this.gateways, ...this.workers]) this.freeze(slot, false);
    await Promise.all(this.workers.map((w) => this.startWorker(w)));
    await Promise.all(this.gateways.map((g) => this.startGateway(g)));
  }

  /** A room's presence (user -> devices), as a running gateway's admin API tells it. */
  async presence(room: string): Promise<Record<string, number>> {
    const nodes = this.gateways.flatMap((g) => (g.node && !g.paused ? [g.node] : []));
    let failure: unknown = new Error('no gateway runs');
    for (const node of nodes) {
      try {
        const out: Record<string, number> = {};
        for (let cursor: string | null = '', pages = 0; cursor !== null && pages < 100; pages++) {
          const url = `${node.httpUrl}/admin/rooms/${encodeURIComponent(room)}/presence?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
          const res = await fetch(url, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` }, signal: AbortSignal.timeout(ADMIN_DEADLINE_MS) });
          if (res.status !== 200) throw new Error(`presence of ${room} on ${node.nodeId}: ${res.status} ${await res.text()}`);
          const body = (await res.json()) as { members: { user: string; devices: number }[]; next: string | null };
          for (const m of body.members) out[m.user] = m.devices;
          cursor = body.next;
        }
        return out;
      } catch (err) {
        failure = err;
      }
    }
    throw failure;
  }

  /** MongoDB's messages of `rooms`, read directly (not through a proxy). */
  async stored(rooms: readonly string[]): Promise<Record<string, StoredMessage[]>> {
    const docs = await this.mongo.db(this.database).collection('messages').find({ room: { $in: [...rooms] } }, { projection: { _id: 0, room: 1, seq: 1, cid: 1, from: 1, body: 1, ts: 1, epoch: 1 } }).toArray();
    const out: Record<string, StoredMessage[]> = Object.fromEntries(rooms.map((r) => [r, []]));
    for (const d of docs) {
      const m: StoredMessage = { seq: Number(d['seq']), cid: String(d['cid']), from: String(d['from']), body: String(d['body']), ts: Number(d['ts']), ...(typeof d['epoch'] === 'string' ? { epoch: d['epoch'] } : {}) };
      out[String(d['room'])]?.push(m);
    }
    for (const list of Object.values(out)) list.sort((a, b) => a.seq - b.seq);
    return out;
  }

  /** The last lines every process printed, for a failure report. */
  outputTail(lines = 15): string {
    const tail = (text: string): string => text.split('\n').slice(-lines).join('\n');
    const gateways = this.gateways.map((g) => `--- ${g.id} ${g.node?.nodeId ?? '(down)'}\n${tail(g.node?.output.join('') ?? '')}`);
    const workers = this.workers.map((w) => `--- ${w.id}\n${tail(w.worker?.output() ?? '')}`);
    return [...gateways, ...workers].join('\n');
  }

  async close(): Promise<void> {
    clearInterval(this.trimmer);
    for (const slot of [...this.gateways, ...this.workers]) this.freeze(slot, false);
    await Promise.all([...this.gateways.map((g) => this.killGateway(g)), ...this.workers.map((w) => this.killWorker(w))]);
    await this.mongo.db(this.database).dropDatabase().catch((err: unknown) => console.error(`dropping the test database ${this.database} failed`, err));
    await this.mongo.close();
    await this.toxiproxy.close();
    await this.nats.close();
    await this.redis.close();
  }
}

function need(proxy: Proxy | undefined): Proxy {
  if (!proxy) throw new Error('a link without a proxy');
  return proxy;
}
