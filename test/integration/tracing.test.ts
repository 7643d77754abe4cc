import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { MongoClient } from 'mongodb';
import type { Msg, NatsConnection, Subscription } from 'nats';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { queueNames } from '../../src/bus/jetstream-streams.js';
import { loadConfig } from '../../src/config/index.js';
import { createNode, startTracing } from '../../src/main.js';
import type { Tracer } from '../../src/shared/tracing.js';
import { createLogger } from '../../src/shared/logger.js';
import { runWorker, type RunningWorker } from '../../src/worker.js';
import { TestClient } from '../helpers/clients.js';
import { startBuiltNode, TEST_ADMIN_TOKEN, TEST_SECRET, type TestNode } from '../helpers/node.js';
import { requireMongo, requireNats, requireRedis, uniquePrefix } from '../helpers/services.js';
import { deleteStreams, eventually, MONGO_URL, mongoClient, NATS_URL, natsConnection } from './persist-support.js';

const BODY = 'a body that no span may carry';

/**
 * Two gateway nodes and a persist worker in this process, over Redis, NATS (bus and JetStream)
 * and MongoDB. With tracing on, one send is one trace from the sender's node through the
 * durable append and the bus to the other node's delivery and the worker's MongoDB write; with
 * tracing off nothing is recorded and no NATS message carries a trace header.
 */
describe('tracing', () => {
  let prefix = '';
  let nodes: TestNode[] = [];
  let worker: RunningWorker | undefined;
  let nc: NatsConnection | undefined;
  let mongo: MongoClient | undefined;
  let clients: TestClient[] = [];

  beforeAll(async () => {
    await Promise.all([requireRedis(), requireNats(), requireMongo()]);
  });

  afterEach(async () => {
    clients.forEach((c) => c.close());
    await Promise.all(nodes.map((n) => n.close()));
    await worker?.close();
    if (nc) await deleteStreams(nc, prefix).finally(() => nc?.close());
    await mongo?.db(prefix).dropDatabase().catch(() => undefined);
    await mongo?.close();
    trace.disable();
    nodes = [];
    clients = [];
    worker = nc = mongo = undefined;
  });

  /** The env of one deployment; OTEL_* from `otel`. */
  const env = (otel: Record<string, string>): Record<string, string> => ({
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: '0',
    JWT_SECRET: TEST_SECRET,
    ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    DRAIN_S: '0',
    QUEUE_MAX_BYTES: String(16 * 1024 * 1024),
    LOG_LEVEL: 'silent',
    REDIS_URL: 'redis://127.0.0.1:6379',
    NATS_URL,
    BUS: 'nats',
    MONGODB_URL: `${MONGO_URL}/${prefix}`,
    KEY_PREFIX: prefix,
    ...otel,
  });

  /** Nodes `a` and `b` and a worker; `tracer` stands for the SDK a configured exporter starts. */
  async function deploy(otel: Record<string, string>, tracer: (role: string) => Promise<Tracer | undefined>): Promise<void> {
    const logger = createLogger('silent');
    for (const id of ['a', 'b']) {
      const { config } = loadConfig({ ...env(otel), NODE_ID: `${prefix}-${id}` });
      nodes.push(await startBuiltNode(createNode(config, logger, await tracer(id)), config));
    }
    const { config } = loadConfig(env(otel), { role: 'worker' });
    worker = await runWorker(config, logger, { batchMs: 10 }, await tracer('worker'));
    nc = await natsConnection();
    mongo = await mongoClient();
  }

  /** alice on node a sends one message to bob on node b; resolves once bob has it and MongoDB stores it. */
  async function sendOne(room: string, busSeen: Msg[]): Promise<void> {
    const [a, b] = nodes as [TestNode, TestNode];
    const sub: Subscription = (nc as NatsConnection).subscribe(`${prefix}.room.>`, { callback: (err, msg) => !err && busSeen.push(msg) });
    await (nc as NatsConnection).flush();
    const alice = await TestClient.connect('ws', a, await a.token('alice'));
    const bob = await TestClient.connect('ws', b, await b.token('bob'));
    clients.push(alice, bob);
    await alice.join(room);
    await bob.join(room);
    const sent = await alice.send(room, 'c1', BODY);
    expect(sent.seq).toBe(1);
    await bob.waitFor('msg', (f) => f['seq'] === 1);
    await eventually('the message stored', async () => ((await mongo?.db(prefix).collection('messages').countDocuments({ room })) ?? 0) === 1);
    await eventually('the room message seen on the bus', () => Promise.resolve(busSeen.some((m) => m.data.length > 0 && m.string().includes(BODY))));
    sub.unsubscribe();
  }

  /** The headers JetStream stored with the room's queued message. */
  async function queuedHeaders(): Promise<string[]> {
    const jsm = await (nc as NatsConnection).jetstreamManager();
    const stored = await jsm.streams.getMessage(queueNames(prefix).stream, { seq: 1 });
    return stored.header.keys().map((k) => k.toLowerCase());
  }

  it('joins the send, the durable append, the other node\'s delivery and the MongoDB write in one trace', async () => {
    prefix = uniquePrefix('trace-on');
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    await deploy({ OTEL_TRACES_EXPORTER: 'otlp' }, () => Promise.resolve(provider.getTracer('parley-test')));
    const busSeen: Msg[] = [];
    await sendOne('traced', busSeen);
    await eventually('the MongoDB write span ended', () => Promise.resolve(exporter.getFinishedSpans().some((s) => s.name === 'parley.mongo.write')));
    await eventually('the delivery span on node b ended', () => Promise.resolve(exporter.getFinishedSpans().some((s) => s.name === 'parley.deliver' && s.attributes['parley.delivery'] === 'bus')));

    const spans = exporter.getFinishedSpans();
    const one = (name: string, pred: (s: ReadableSpan) => boolean = () => true): ReadableSpan => {
      const found = spans.filter((s) => s.name === name && pred(s));
      expect(found, name).toHaveLength(1);
      return found[0] as ReadableSpan;
    };
    const send = one('parley.send');
    const traceId = send.spanContext().traceId;
    const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;
    expect(send.parentSpanContext).toBeUndefined();
    expect(send.attributes).toMatchObject({ 'parley.room': 'traced', 'parley.seq': 1, 'parley.dup': false });
    const append = one('parley.room_state.append');
    const queued = one('parley.queue.append');
    const commit = one('parley.room_state.commit');
    const publish = one('parley.bus.publish');
    const local = one('parley.deliver', (s) => s.attributes['parley.delivery'] === 'local');
    const remote = one('parley.deliver', (s) => s.attributes['parley.delivery'] === 'bus');
    const batch = one('parley.persist.batch');
    const write = one('parley.mongo.write');
    for (const s of [append, queued, commit, publish, local, remote, batch, write]) expect(s.spanContext().traceId, s.name).toBe(traceId);
    for (const s of [append, queued, commit, publish, local]) expect(parentOf(s), s.name).toBe(send.spanContext().spanId);
    // Across NATS: the other node's delivery hangs off the bus publish, the worker's batch off the durable append.
    expect(parentOf(remote)).toBe(publish.spanContext().spanId);
    expect(remote.parentSpanContext?.isRemote).toBe(true);
    expect(parentOf(batch)).toBe(queued.spanContext().spanId);
    expect(parentOf(write)).toBe(batch.spanContext().spanId);
    expect(queued.attributes).toMatchObject({ 'parley.room': 'traced', 'parley.seq': 1 });
    expect(remote.attributes).toMatchObject({ 'parley.room': 'traced', 'parley.seq': 1, 'parley.messages': 1 });
    expect(write.attributes).toMatchObject({ 'db.system.name': 'mongodb', 'parley.messages': 1 });
    // Connections and joins have spans of their own, one per client.
    expect(spans.filter((s) => s.name === 'parley.connect' && s.attributes['parley.outcome'] === 'admitted')).toHaveLength(2);
    expect(spans.filter((s) => s.name === 'parley.join' && s.attributes['parley.room'] === 'traced')).toHaveLength(2);
    // Rooms and seqs, never bodies or tokens.
    const values = spans.flatMap((s) => Object.values(s.attributes).map(String));
    expect(values.filter((v) => v.includes(BODY) || v.startsWith('eyJ'))).toEqual([]);

    const traceparent = `00-${traceId}-`;
    expect(busSeen.map((m) => m.headers?.get('traceparent') ?? '')).toContainEqual(expect.stringContaining(traceparent));
    expect(await queuedHeaders()).toContain('traceparent');
  });

  it('records no span and puts no trace header on NATS messages while tracing is off', async () => {
    prefix = uniquePrefix('trace-off');
    // A provider registered globally catches any span made through the global API.
    const exporter = new InMemorySpanExporter();
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    const configs: unknown[] = [];
    await deploy({}, async (role) => {
      const { config } = loadConfig({ ...env({}), NODE_ID: role }, role === 'worker' ? { role: 'worker' } : {});
      configs.push(config.tracing);
      return (await startTracing(config.tracing, role))?.tracer;
    });
    expect(configs).toEqual([undefined, undefined, undefined]);
    const busSeen: Msg[] = [];
    await sendOne('untraced', busSeen);
    await worker?.close();
    expect(exporter.getFinishedSpans()).toEqual([]);
    expect(busSeen.length).toBeGreaterThan(0);
    expect(busSeen.filter((m) => m.headers !== undefined)).toEqual([]);
    expect(await queuedHeaders()).toEqual(['nats-msg-id']);
  });
});
