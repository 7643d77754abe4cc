import { DiscardPolicy, nanos, RetentionPolicy, StorageType, type NatsConnection } from 'nats';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamQueue } from '../../src/bus/jetstream-queue.js';
import { queueNames } from '../../src/bus/jetstream-streams.js';
import { createLogger } from '../../src/shared/logger.js';
import { requireNats, uniquePrefix } from '../helpers/services.js';
import { deleteStreams, message, natsConnection, NATS_URL } from './persist-support.js';

const logger = createLogger('silent');
let nc: NatsConnection;
const prefixes: string[] = [];
const queues: JetStreamQueue[] = [];

beforeAll(async () => {
  await requireNats();
  nc = await natsConnection();
});
afterEach(async () => {
  for (const q of queues.splice(0)) await q.close();
  for (const p of prefixes.splice(0)) await deleteStreams(nc, p);
});
afterAll(async () => {
  await nc?.close();
});

async function started(opts: Partial<ConstructorParameters<typeof JetStreamQueue>[0]> = {}, prefix = uniquePrefix('queue')): Promise<JetStreamQueue> {
  if (!prefixes.includes(prefix)) prefixes.push(prefix);
  const q = new JetStreamQueue({ nats: NATS_URL, prefix, logger, ...opts });
  queues.push(q);
  await q.start();
  return q;
}

const streamInfo = async (name: string) => (await nc.jetstreamManager()).streams.info(name);

describe('JetStreamQueue streams', () => {
  it('creates the queue and dead-letter streams with explicit limits; the queue stream refuses rather than discards', async () => {
    const prefix = uniquePrefix('queue');
    await started({ limits: { maxAgeMs: 3_600_000, maxBytes: 64 * 1024 ** 2, duplicateWindowMs: 120_000, deadMaxAgeMs: 7_200_000 } }, prefix);
    const names = queueNames(prefix);
    const { config } = await streamInfo(names.stream);
    expect(config).toMatchObject({
      name: names.stream,
      subjects: [names.subjects],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      // The max age applies to persisted messages only, trimmed by QueueRetention (persist-retention.test.ts).
      discard: DiscardPolicy.New,
      max_age: 0,
      max_bytes: 64 * 1024 ** 2,
      duplicate_window: nanos(120_000),
    });
    expect(names.stream).toMatch(/^PARLEY_t_queue_[0-9a-f]{8}_MESSAGES$/);
    const dead = await streamInfo(names.deadStream);
    expect(dead.config).toMatchObject({ subjects: [names.deadSubjects], storage: StorageType.File, discard: DiscardPolicy.Old, max_age: nanos(7_200_000) });
  });

  it('brings a stream of an earlier version (discarding old messages, with a max age) to refusing and no max age', async () => {
    const prefix = uniquePrefix('queue');
    const names = queueNames(prefix);
    prefixes.push(prefix);
    await (await nc.jetstreamManager()).streams.add({
      name: names.stream,
      subjects: [names.subjects],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_age: nanos(3_600_000),
      max_bytes: 10 * 1024 ** 2,
    });
    await started({ limits: { maxBytes: 10 * 1024 ** 2 } }, prefix);
    expect((await streamInfo(names.stream)).config).toMatchObject({ discard: DiscardPolicy.New, max_age: 0 });
  });

  it('starting again is idempotent, and new limits update the existing stream', async () => {
    const prefix = uniquePrefix('queue');
    const a = await started({ limits: { maxBytes: 10 * 1024 ** 2 } }, prefix);
    await a.publish(message('r', 1));
    const b = await started({ limits: { maxBytes: 20 * 1024 ** 2 } }, prefix);
    const info = await streamInfo(b.names.stream);
    expect(info.config.max_bytes).toBe(20 * 1024 ** 2);
    expect(info.state.messages).toBe(1);
  });

  it('refuses a stream of that name that listens on another prefix’s subjects', async () => {
    const prefix = uniquePrefix('queue');
    await started({}, prefix);
    const clash = new JetStreamQueue({ nats: NATS_URL, prefix: prefix.replace('_queue_', '.queue_'), logger });
    await expect(clash.start()).rejects.toThrow(/another key prefix owns it/);
    await clash.close();
  });
});

describe('JetStreamQueue replicas on a single server', () => {
  it('a new stream with more replicas than servers stops the start, naming QUEUE_REPLICAS', async () => {
    const prefix = uniquePrefix('queue');
    prefixes.push(prefix);
    const q = new JetStreamQueue({ nats: NATS_URL, prefix, logger, replicas: 3 });
    await expect(q.start()).rejects.toThrow(/3 replicas, QUEUE_REPLICAS\) failed: .*replicas/);
    await q.close();
  });

  it('an existing stream that cannot get more replicas keeps working, gets the other changes, and the shortfall is logged per stream', async () => {
    const prefix = uniquePrefix('queue');
    await started({ limits: { maxBytes: 10 * 1024 ** 2 } }, prefix);
    const logs: { level: number; msg: string; stream?: string; copies?: number; wanted?: number }[] = [];
    const capturing = createLogger('info', { write: (line: string) => void logs.push(JSON.parse(line) as (typeof logs)[number]) });
    const q = await started({ logger: capturing, replicas: 3, limits: { maxBytes: 20 * 1024 ** 2 } }, prefix);
    const info = await streamInfo(q.names.stream);
    // nats-server 2.9 outside a cluster stores the new count, and keeps one copy.
    expect(info.config.max_bytes).toBe(20 * 1024 ** 2);
    expect(info.cluster?.replicas ?? []).toEqual([]);
    await q.publish(message('still-works', 1));
    const refusals = logs.filter((l) => l.msg.includes('not the 3 of QUEUE_REPLICAS'));
    expect(refusals.map((l) => [l.level, l.stream, l.copies, l.wanted])).toEqual([
      [50, q.names.stream, 1, 3],
      [50, q.names.deadStream, 1, 3],
    ]);
  });
});

describe('JetStreamQueue publish and lastSeq', () => {
  it('stores a room:seq once however often it is published, and the copies still succeed', async () => {
    const q = await started();
    await Promise.all([1, 1, 2, 1, 2, 3].map((seq) => q.publish(message('dup.room', seq))));
    await q.publish(message('dup.room', 2, { body: 'a retry with another body is still the same id' }));
    const info = await streamInfo(q.names.stream);
    expect(info.state.messages).toBe(3);
  });

  it('refuses another message under a room:seq already queued: it is not durable', async () => {
    const q = await started();
    await q.publish(message('taken', 1, { cid: 'first' }));
    await expect(q.publish(message('taken', 1, { cid: 'second' }))).rejects.toThrow(/taken:1 is already queued for another message/);
    await expect(q.publish(message('taken', 1, { from: 'mallory', cid: 'first' }))).rejects.toThrow(/another message/);
    await q.publish(message('taken', 1, { cid: 'first' }));
    expect((await streamInfo(q.names.stream)).state.messages).toBe(1);
  });

  it('keeps the epoch with the message, and lastPosition answers it with the messages of that epoch', async () => {
    const q = await started();
    expect(await q.lastPosition('pos')).toBeUndefined();
    for (const seq of [1, 2, 3]) await q.publish(message('pos', seq), 'E1');
    expect(await q.lastPosition('pos')).toEqual({ epoch: 'E1', seq: 3, messages: [1, 2, 3].map((seq) => message('pos', seq)) });
    // Messages of another epoch after them: only the newest epoch's tail counts.
    for (const seq of [4, 5]) await q.publish(message('pos', seq), 'E2');
    expect(await q.lastPosition('pos')).toEqual({ epoch: 'E2', seq: 5, messages: [4, 5].map((seq) => message('pos', seq)) });
  });

  it('publishes JSON on <prefix>.persist.<room with . as ~>, with the msg id room:seq', async () => {
    const q = await started();
    const m = message('a.b.c', 4, { meta: { k: 1 } });
    await q.publish(m);
    const stored = await (await nc.jetstreamManager()).streams.getMessage(q.names.stream, { seq: 1 });
    expect(stored.subject).toBe(q.names.subjects.replace('>', 'a~b~c'));
    expect(stored.header.get('Nats-Msg-Id')).toBe('a.b.c:4');
    expect(JSON.parse(new TextDecoder().decode(stored.data))).toEqual(m);
  });

  it('lastSeq is 0 for a room with nothing queued, then its highest seq, rooms apart', async () => {
    const q = await started();
    expect(await q.lastSeq('empty')).toBe(0);
    for (const seq of [1, 2, 3]) await q.publish(message('room.x', seq));
    await q.publish(message('room', 9));
    expect(await q.lastSeq('room.x')).toBe(3);
    expect(await q.lastSeq('room')).toBe(9);
  });

  it('lastSeq sees a higher seq queued before the room’s last message (racing sends, late retries)', async () => {
    const prefix = uniquePrefix('queue');
    const q = await started({}, prefix);
    for (const seq of [1, 2, 5, 3, 4]) await q.publish(message('race', seq));
    expect(await q.lastSeq('race')).toBe(5);
    const onlyLast = await started({ lastSeqScanMs: 0 }, prefix);
    expect(await onlyLast.lastSeq('race')).toBe(4);
  });

  it('connected follows the connection; a caller-owned connection stays open after close', async () => {
    const own = await natsConnection();
    const q = await started({ nats: own });
    expect(q.connected).toBe(true);
    await q.close();
    expect(q.connected).toBe(false);
    expect(own.isClosed()).toBe(false);
    await expect(q.publish(message('r', 1))).rejects.toThrow(/not started/);
    await own.close();
    const owned = await started();
    expect(owned.connected).toBe(true);
    await owned.close();
    expect(owned.connected).toBe(false);
  });

  it('publish fails with the message id in the error when the stream is gone', async () => {
    const q = await started();
    await (await nc.jetstreamManager()).streams.delete(q.names.stream);
    await expect(q.publish(message('gone', 7))).rejects.toThrow(/queueing gone:7 on PARLEY_.*_MESSAGES failed/);
  });
});
