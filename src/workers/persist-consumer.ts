import { AckPolicy, DeliverPolicy, headers, nanos, type ConsumerConfig, type JetStreamClient, type JetStreamManager, type JsMsg } from 'nats';
import { deadSubject, jsErrCode, JS_ERR, type QueueNames } from '../bus/jetstream-streams.js';

export interface ConsumerSettings {
  ackWaitMs: number;
  /** MAX_DELIVER: the consumer allows one delivery more, see PersistWorker. */
  maxDeliver: number;
  maxAckPending: number;
}

/**
 * Creates the shared durable pull consumer `<prefix>_persist`, or brings it to `settings`.
 *
 * No `backoff` on the consumer: nats-server 2.9 then ignores nak delays after the first and
 * redelivers on the backoff schedule instead. Failures back off through the worker's nak delays;
 * ack_wait only decides when a dead worker's messages come back.
 */
export async function ensurePersistConsumer(jsm: JetStreamManager, names: QueueNames, settings: ConsumerSettings): Promise<void> {
  const updatable: Partial<ConsumerConfig> = {
    ack_wait: nanos(settings.ackWaitMs),
    max_deliver: settings.maxDeliver + 1,
    max_ack_pending: settings.maxAckPending,
    backoff: [],
  };
  try {
    await jsm.consumers.info(names.stream, names.consumer);
  } catch (err) {
    if (jsErrCode(err) !== JS_ERR.consumerNotFound) throw err;
    // Workers starting together: with the same config, add is idempotent.
    await jsm.consumers.add(names.stream, {
      ...updatable,
      durable_name: names.consumer,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: names.subjects,
    });
    return;
  }
  await jsm.consumers.update(names.stream, names.consumer, updatable);
}

export type DeadReason = 'conflict' | 'unparseable' | 'max-deliver';

/**
 * Publishes a queued message, untouched, to the dead-letter stream on `<prefix>.dead.<room>`,
 * with headers saying why; resolves on the stream's PubAck (idempotent per stream seq).
 */
export async function publishDeadLetter(js: JetStreamClient, prefix: string, names: QueueNames, msg: JsMsg, reason: DeadReason, detail: string, room?: string): Promise<void> {
  const h = headers();
  h.set('Parley-Dead-Reason', reason);
  h.set('Parley-Dead-Detail', detail.replace(/[\r\n]+/g, ' ').slice(0, 1024));
  h.set('Parley-Subject', msg.subject);
  h.set('Parley-Stream-Seq', String(msg.seq));
  h.set('Parley-Deliveries', String(msg.info.deliveryCount));
  await js.publish(deadSubject(prefix, room), msg.data, { msgID: `dead:${msg.seq}`, headers: h, expect: { streamName: names.deadStream } });
}
