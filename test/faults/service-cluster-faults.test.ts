import { Redis } from 'ioredis';
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamQueue } from '../../src/bus/jetstream-queue.js';
import { queueNames } from '../../src/bus/jetstream-streams.js';
import { createLogger } from '../../src/shared/logger.js';
import { ensurePersistConsumer } from '../../src/workers/persist-consumer.js';
import { message } from '../integration/persist-support.js';
import { until } from '../cluster/support.js';
import { startNatsCluster, type NatsClusterHandle } from '../helpers/nats-cluster.js';
import { startRedisCluster, type RedisClusterHandle } from '../helpers/redis-cluster.js';
import { FaultCluster } from './cluster.js';
import type { ActiveFault } from './faults.js';
import { scenario, type RunResult } from './run.js';
import { expectClean, seedFor, standardWorkload } from './support.js';
import { uniquePrefix } from '../helpers/services.js';

// Parley on clustered services: a 3-server NATS cluster keeping the queue's streams on all three
// (QUEUE_REPLICAS=3, NATS_URL listing the servers) and a Redis Cluster with a replica per primary
// (REDIS_CLUSTER_NODES). Two gateways and a worker chat through them while a server dies: the
// queue stream's leader (kill -9; the other two elect a new one), or the Redis primary holding a
// room (kill -9; its replica takes over after cluster-node-timeout). Nothing acknowledged may be
// lost or duplicated, order holds, and sends are acknowledged again while the server is down.
// The FaultCluster's private Redis and NATS stay idle here: the gateways' env points elsewhere.

const NODE_TIMEOUT_MS = 2_000;
const TEST_MS = 150_000;

let nats: NatsClusterHandle | undefined;
let redis: RedisClusterHandle | undefined;
let cluster: FaultCluster | undefined;
let probe: NatsConnection | undefined;

beforeAll(async () => {
  [nats, redis] = await Promise.all([startNatsCluster(3), startRedisCluster({ replicas: 1, nodeTimeoutMs: NODE_TIMEOUT_MS })]);
  probe = await connect({ servers: nats.urls, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  cluster = await FaultCluster.start({
    name: 'faults_svc_cluster',
    gateways: 2,
    workers: 1,
    env: { REDIS_URL: '', REDIS_CLUSTER_NODES: redis.nodes.join(','), NATS_URL: nats.urls.join(','), QUEUE_REPLICAS: '3' },
  });
}, 120_000);

afterAll(async () => {
  await cluster?.close();
  await probe?.close();
  await Promise.all([nats?.stop(), redis?.stop()]);
}, 60_000);

function started(): { cluster: FaultCluster; nats: NatsClusterHandle; redis: RedisClusterHandle; probe: NatsConnection } {
  if (!cluster || !nats || !redis || !probe) throw new Error('the clustered services did not start');
  return { cluster, nats, redis, probe };
}

/** The queue stream's leader and replicas, as JetStream reports them. */
async function placement(stream: string): Promise<{ leader: string; replicas: string[] }> {
  const info = await (await started().probe.jetstreamManager()).streams.info(stream);
  return { leader: info.cluster?.leader ?? '', replicas: (info.cluster?.replicas ?? []).map((r) => r.name) };
}

/** Waits until `stream` has a leader and `copies - 1` replicas. */
function untilPlaced(stream: string, copies: number): Promise<void> {
  return until(async () => {
    const p = await placement(stream).catch(() => undefined);
    return p !== undefined && p.leader !== '' && p.replicas.length === copies - 1;
  }, `${stream} to be kept on ${copies} servers`, 20_000);
}

/** Sends acknowledged while the fault held (after it was in place, before its heal). */
function acksDuringFault(result: RunResult): number {
  const fault = result.faults[0];
  if (!fault) throw new Error('no fault was injected');
  const [from, to] = [result.startedAt + fault.at, result.startedAt + fault.at + fault.holdMs];
  return result.input.operations.filter((o) => o.op === 'send' && o.outcome.ok && o.end >= from && o.end <= to).length;
}

describe('clustered NATS (R3 streams) and Redis Cluster', () => {
  it('kill -9 of the queue stream leader mid-chat: nothing acknowledged lost, sends go on under the new leader', async () => {
    const { cluster: c, nats: n } = started();
    const stream = queueNames(c.prefix).stream;
    const before = await placement(stream);
    expect(before.replicas).toHaveLength(2);
    const fault = async (): Promise<ActiveFault> => {
      const { leader } = await placement(stream);
      const server = n.server(leader);
      await server.kill();
      // Wait for the election, so the hold measures the cluster working without that server.
      await until(async () => {
        const now = await placement(stream).catch(() => undefined);
        return now !== undefined && now.leader !== '' && now.leader !== leader;
      }, `a new leader of ${stream} after ${leader} died`, 30_000);
      return { kind: 'nats-stream-leader-kill', target: leader, heal: () => server.start() };
    };
    const result = await scenario(c, { seed: seedFor(1101), workload: standardWorkload('nats-leader'), beforeMs: 4_000, fault, holdMs: 5_000, afterMs: 4_000 });
    expectClean(result, c);
    expect(acksDuringFault(result)).toBeGreaterThan(0);
  }, TEST_MS);

  it('kill -9 of the Redis primary holding a room: its replica takes over, nothing acknowledged lost, sends go on', async () => {
    const { cluster: c, redis: r } = started();
    const workload = standardWorkload('redis-failover');
    const room = workload.clients[0]?.rooms[0] ?? 'redis-failover-a';
    const tag = `{${c.prefix}:${room}}`;
    let promoted = 0;
    const fault = async (): Promise<ActiveFault> => {
      const primary = await r.primaryFor(tag);
      await r.kill(primary);
      promoted = await r.untilServing(tag, 30_000);
      expect(promoted).not.toBe(primary);
      return { kind: 'redis-primary-kill', target: `127.0.0.1:${primary}`, heal: () => r.start(primary) };
    };
    const result = await scenario(c, { seed: seedFor(1102), workload, beforeMs: 4_000, fault, holdMs: 5_000, afterMs: 4_000 });
    expectClean(result, c);
    expect(acksDuringFault(result)).toBeGreaterThan(0);
    // The promoted replica has another run id: the room was checked against the durable copy
    // again (docs/protocol.md, "Durability before acknowledgement": a failover to a lagging replica must not hand out a seq twice).
    const direct = new Redis({ host: '127.0.0.1', port: promoted, lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await direct.connect();
      const runId = /run_id:(\w+)/.exec(await direct.info('server'))?.[1];
      expect(runId).toBeDefined();
      expect(await direct.hget(`${tag}:meta`, 'run')).toBe(runId);
    } finally {
      direct.disconnect();
    }
  }, TEST_MS);

  it('QUEUE_REPLICAS brings an existing stream from 1 to 3 replicas, and back, keeping its messages', async () => {
    const { nats: n } = started();
    const prefix = uniquePrefix('svc_replicas');
    const errors: string[] = [];
    const logger = createLogger('error', { write: (line: string) => void errors.push(line) });
    const queues: JetStreamQueue[] = [];
    const open = async (replicas: number): Promise<JetStreamQueue> => {
      // A listed server that is down (nothing listens on port 1) is skipped for the others.
      const q = new JetStreamQueue({ nats: ['nats://127.0.0.1:1', ...n.urls], prefix, logger, replicas });
      queues.push(q);
      await q.start();
      return q;
    };
    try {
      const one = await open(1);
      await one.publish(message('scaled', 1));
      const jsm = await started().probe.jetstreamManager();
      const settings = { ackWaitMs: 30_000, maxDeliver: 5, maxAckPending: 100 };
      await ensurePersistConsumer(jsm, one.names, settings);
      expect((await placement(one.names.stream)).replicas).toHaveLength(0);
      const three = await open(3);
      // The scale-up settles in the background: a leader and two current replicas.
      for (const stream of [three.names.stream, three.names.deadStream]) await untilPlaced(stream, 3);
      // The workers' consumer follows its stream.
      await until(async () => ((await jsm.consumers.info(three.names.stream, three.names.consumer)).cluster?.replicas ?? []).length === 2, 'the persist consumer on 3 servers', 20_000);
      await three.publish(message('scaled', 2));
      expect(await three.lastSeq('scaled')).toBe(2);
      expect(errors).toEqual([]);
      // Five replicas on three servers: NATS refuses, the stream keeps three, the start goes on.
      await open(5);
      const refused = errors.splice(0).map((line) => JSON.parse(line) as { stream: string; copies: number; wanted: number });
      expect(refused.map((e) => [e.stream, e.copies, e.wanted])).toEqual([[three.names.stream, 3, 5], [three.names.deadStream, 3, 5]]);
      expect((await placement(three.names.stream)).replicas).toHaveLength(2);
      await open(1);
      await untilPlaced(three.names.stream, 1);
      expect(await three.lastSeq('scaled')).toBe(2);
      expect(errors).toEqual([]);
    } finally {
      for (const q of queues) await q.close();
      const jsm = await started().probe.jetstreamManager();
      for (const name of [queueNames(prefix).stream, queueNames(prefix).deadStream]) await jsm.streams.delete(name).catch(() => false);
    }
  }, 60_000);
});
