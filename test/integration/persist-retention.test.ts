import { connect, type NatsConnection } from 'nats';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamQueue } from '../../src/bus/jetstream-queue.js';
import { QueueFullError } from '../../src/bus/pub-ack-publisher.js';
import { registerQueueMetrics } from '../../src/bus/queue-metrics.js';
import { QueueRetention } from '../../src/bus/queue-retention.js';
import { createLogger } from '../../src/shared/logger.js';
import { ensurePersistConsumer } from '../../src/workers/persist-consumer.js';
import { until } from '../cluster/support.js';
import { startPrivateNats, type PrivateService } from '../helpers/services-private.js';
import { uniquePrefix } from '../helpers/services.js';
import { message, metricValue } from './persist-support.js';

// Streams filled to their limit on a NATS of this file's own: JetStream reserves max_bytes per
// stream out of the server's storage, and the shared server serves every other test file.
const MAX_BYTES = 1024 * 1024;
const silent = createLogger('silent');
let nats: PrivateService;
let nc: NatsConnection;
const cleanups: (() => Promise<unknown> | void)[] = [];

beforeAll(async () => {
  nats = await startPrivateNats();
  nc = await connect({ servers: nats.url, name: 'parley-test-retention' });
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(async () => {
  await nc?.close();
  await nats?.close();
});

interface Queue {
  queue: JetStreamQueue;
  /** A retention of the test's own, checked by hand (the queue's own one runs beside it, as a second process's would). */
  retention: QueueRetention;
  logs: { level: number; msg: string }[];
  streamState(): Promise<{ first: number; last: number; messages: number; bytes: number }>;
  /** Acknowledges, as the persist worker would after storing them, the next `n` messages. */
  persist(n: number): Promise<void>;
}

async function queueOf(opts: { persisted: boolean; consumer: boolean; maxAgeMs?: number }): Promise<Queue> {
  const prefix = uniquePrefix('retention');
  const limits = { maxBytes: MAX_BYTES, maxAgeMs: opts.maxAgeMs ?? 3_600_000 };
  const queue = new JetStreamQueue({ nats: nc, prefix, logger: silent, limits, persisted: opts.persisted });
  await queue.start();
  cleanups.push(() => queue.close());
  const jsm = await nc.jetstreamManager();
  cleanups.push(() => jsm.streams.delete(queue.names.stream).catch(() => false));
  if (opts.consumer) await ensurePersistConsumer(jsm, queue.names, { ackWaitMs: 60_000, maxDeliver: 5, maxAckPending: 10_000 });
  const logs: Queue['logs'] = [];
  const logger = createLogger('info', { write: (line: string) => void logs.push(JSON.parse(line) as Queue['logs'][number]) });
  const retention = new QueueRetention({ jsm, names: queue.names, limits, persisted: opts.persisted, logger });
  cleanups.push(() => retention.close());
  return {
    queue,
    retention,
    logs,
    async streamState() {
      const { state } = await jsm.streams.info(queue.names.stream);
      return { first: state.first_seq, last: state.last_seq, messages: state.messages, bytes: state.bytes };
    },
    async persist(n) {
      const consumer = await nc.jetstream().consumers.get(queue.names.stream, queue.names.consumer);
      for (let left = n; left > 0; ) {
        const batch = await consumer.fetch({ max_messages: Math.min(left, 500), expires: 2_000 });
        for await (const m of batch) {
          await m.ackAck();
          left--;
        }
      }
    },
  };
}

const big = (seq: number) => message('big', seq, { body: 'x'.repeat(3_000) });

/** Publishes from `from` on until the stream refuses; resolves with the refusal and the seqs it took. */
async function fillUntilRefused(queue: JetStreamQueue, from: number): Promise<{ taken: number[]; refusal: unknown }> {
  const taken: number[] = [];
  for (let seq = from; seq < from + 2 * (MAX_BYTES / 3_000); seq++) {
    const refusal = await queue.publish(big(seq)).then(
      () => undefined,
      (err: unknown) => err,
    );
    if (refusal !== undefined) return { taken, refusal };
    taken.push(seq);
  }
  throw new Error(`the stream took ${taken.length} messages of 3 KB past its ${MAX_BYTES} bytes without refusing one`);
}

describe('QueueRetention with a persist consumer', () => {
  it('trims only acknowledged messages, and a stream full of unacknowledged ones refuses the next publish', async () => {
    const q = await queueOf({ persisted: true, consumer: true });
    for (let seq = 1; seq <= 20; seq++) await q.queue.publish(big(seq));
    await q.persist(10);
    const { taken, refusal } = await fillUntilRefused(q.queue, 21);
    expect((refusal as Error).message).toMatch(/queueing big:\d+ on PARLEY_.*_MESSAGES failed: the queue stream is full/);
    expect((refusal as Error).cause).toBeInstanceOf(QueueFullError);

    await q.retention.check();
    const trimmed = await q.streamState();
    // The ten acknowledged messages made room; every unacknowledged one is still there.
    expect(trimmed).toMatchObject({ first: 11, last: 20 + taken.length, messages: 10 + taken.length });
    expect(q.retention.capacity).toMatchObject({ full: true, unpersistedMessages: 10 + taken.length });

    await q.persist(10 + taken.length);
    await q.retention.check();
    const after = await q.streamState();
    expect(after.bytes).toBeLessThanOrEqual(0.7 * MAX_BYTES);
    expect(q.retention.capacity).toMatchObject({ full: false, unpersistedMessages: 0 });
    await q.queue.publish(big(1_000));
  });

  it('keeps unacknowledged messages past the max age, and trims acknowledged ones at it', async () => {
    const maxAgeMs = 1_000;
    const q = await queueOf({ persisted: true, consumer: true, maxAgeMs });
    for (let seq = 1; seq <= 10; seq++) await q.queue.publish(message('aged', seq));
    await q.persist(5);
    await until(async () => (await q.retention.check(), (await q.streamState()).first === 6), 'the five acknowledged messages aged out', 10_000);
    const newest = await (await nc.jetstreamManager()).streams.getMessage(q.queue.names.stream, { seq: 10 });
    await until(() => Date.now() > newest.time.getTime() + maxAgeMs + 100, 'every message is past the max age', 5_000);
    await q.retention.check();
    expect(await q.streamState()).toMatchObject({ first: 6, last: 10, messages: 5 });
  });
});

describe('QueueRetention without a persist consumer', () => {
  it('with MongoDB configured, trims nothing and says so once per episode, in the log and the metrics', async () => {
    const q = await queueOf({ persisted: true, consumer: false });
    const registry = new Registry();
    registerQueueMetrics(registry, () => q.retention.capacity);
    const { taken } = await fillUntilRefused(q.queue, 1);
    for (let i = 0; i < 3; i++) await q.retention.check();
    expect(await q.streamState()).toMatchObject({ first: 1, messages: taken.length });
    expect(await metricValue(registry, 'parley_queue_full')).toBe(1);
    expect(await metricValue(registry, 'parley_queue_unpersisted_messages')).toBe(taken.length);
    expect(await metricValue(registry, 'parley_queue_max_bytes')).toBe(MAX_BYTES);
    expect(q.logs.map((l) => [l.level, l.msg.slice(0, 40)])).toEqual([
      [40, 'unpersisted messages fill half the queue'],
      [50, 'the queue stream is full of unpersisted '],
    ]);
    expect(q.logs[1]).toMatchObject({ stream: q.queue.names.stream, unpersistedMessages: taken.length, maxBytes: MAX_BYTES, ackFloor: 0 });

    // A worker attaches and stores everything: the episode ends, with one line.
    await ensurePersistConsumer(await nc.jetstreamManager(), q.queue.names, { ackWaitMs: 60_000, maxDeliver: 5, maxAckPending: 10_000 });
    await q.persist(taken.length);
    for (let i = 0; i < 2; i++) await q.retention.check();
    expect(await metricValue(registry, 'parley_queue_full')).toBe(0);
    expect(q.logs.slice(2).map((l) => [l.level, l.msg])).toEqual([[30, 'the queue backlog of unpersisted messages is back to normal']]);
  });

  it('without MongoDB (the stream is the only copy), keeps the newest messages by size and refuses nothing', async () => {
    const q = await queueOf({ persisted: false, consumer: false });
    // Three times the stream's size, a tenth of it between two checks.
    for (let seq = 1; seq <= 3 * 350; seq++) {
      await q.queue.publish(big(seq));
      if (seq % 35 === 0) await q.retention.check();
    }
    const state = await q.streamState();
    expect(state.last).toBe(3 * 350);
    expect(state.first).toBeGreaterThan(600);
    expect(state.bytes).toBeLessThanOrEqual(MAX_BYTES);
    expect(q.retention.capacity).toMatchObject({ full: false, unpersistedMessages: 0 });
    expect(q.logs).toEqual([]);
  });
});
