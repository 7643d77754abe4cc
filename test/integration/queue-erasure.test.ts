import { AckPolicy, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamQueue } from '../../src/bus/jetstream-queue.js';
import { queueNames } from '../../src/bus/jetstream-streams.js';
import { createLogger } from '../../src/shared/logger.js';
import { requireNats, uniquePrefix } from '../helpers/services.js';
import { deleteStreams, message, natsConnection, NATS_URL } from './persist-support.js';

/**
 * JetStreamQueue.erase (src/bus/queue-erasure.ts): an erasure deletes from the queue stream only
 * the events the persist consumer acknowledged (stored in MongoDB); the others stay (`kept`), and
 * without MongoDB (no persist consumer expected) nothing is deleted.
 */
describe('erasing queued events', () => {
  let nc: NatsConnection;
  const prefixes: string[] = [];
  beforeAll(async () => {
    await requireNats();
    nc = await natsConnection();
  });
  afterAll(async () => {
    for (const p of prefixes) await deleteStreams(nc, p);
    await nc.close();
  });

  async function queueWith(persisted: boolean): Promise<{ queue: JetStreamQueue; prefix: string }> {
    const prefix = uniquePrefix('qerase');
    prefixes.push(prefix);
    const queue = new JetStreamQueue({ nats: NATS_URL, prefix, logger: createLogger('silent'), persisted });
    await queue.start();
    for (const [seq, from] of [[1, 'eve'], [2, 'bob'], [3, 'eve']] as const) await queue.publish(message('r', seq, { from, body: `${from} ${seq}` }), 'e1');
    await queue.publish(message('other', 1, { from: 'eve' }), 'e1');
    return { queue, prefix };
  }

  /** What the stream holds, as "room:seq:from". */
  async function held(prefix: string): Promise<string[]> {
    const jsm = await nc.jetstreamManager();
    const stream = queueNames(prefix).stream;
    const { state } = await jsm.streams.info(stream);
    const out: string[] = [];
    for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(stream, { seq }).catch(() => undefined);
      if (!m) continue;
      const e = m.json<{ room: string; seq: number; from: string }>();
      out.push(`${e.room}:${e.seq}:${e.from}`);
    }
    return out;
  }

  it('keeps what the persist consumer has not acknowledged, deletes what it has, only in the room asked', async () => {
    const { queue, prefix } = await queueWith(true);
    const eve = (e: { from: string }) => e.from === 'eve';
    expect(await queue.erase('r', eve)).toEqual({ removed: 0, kept: 2 });

    // The persist consumer stores (acks) the first two events of the stream.
    const names = queueNames(prefix);
    const jsm = await nc.jetstreamManager();
    await jsm.consumers.add(names.stream, { durable_name: names.consumer, ack_policy: AckPolicy.Explicit, filter_subject: names.subjects });
    const consumer = await nc.jetstream().consumers.get(names.stream, names.consumer);
    const batch = await consumer.fetch({ max_messages: 2, expires: 2_000 });
    for await (const m of batch) await m.ackAck();

    expect(await queue.erase('r', eve)).toEqual({ removed: 1, kept: 1 });
    expect(await held(prefix)).toEqual(['r:2:bob', 'r:3:eve', 'other:1:eve']);
    // Twice: nothing more.
    expect(await queue.erase('r', eve)).toEqual({ removed: 0, kept: 1 });
    expect(await queue.erase('none', eve)).toEqual({ removed: 0, kept: 0 });
    await queue.close();
  });

  it('without MongoDB the stream is the only durable copy: nothing is deleted', async () => {
    const { queue, prefix } = await queueWith(false);
    expect(await queue.erase('r', (e) => e.from === 'eve')).toEqual({ removed: 0, kept: 2 });
    expect(await held(prefix)).toHaveLength(4);
    await queue.close();
  });
});
