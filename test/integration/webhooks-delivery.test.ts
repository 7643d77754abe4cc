import { afterEach, beforeAll, expect, it } from 'vitest';
import { JetStreamQueue } from '../../src/bus/jetstream-queue.js';
import { createLogger } from '../../src/shared/logger.js';
import { partitionOf } from '../../src/webhooks/webhook-streams.js';
import { TestClient } from '../helpers/clients.js';
import { startNode, type TestNode } from '../helpers/node.js';
import { documentedVerifier, type Received, type Verifier } from '../helpers/webhook-receiver.js';
import { eventually, message } from './persist-support.js';
import { metricValue, roomsApart, WEBHOOK_SECRET, webhookDeployment, type WebhookDeployment } from './webhook-support.js';

const logger = createLogger('silent');
const cleanups: (() => Promise<unknown>)[] = [];
let verify: Verifier;

beforeAll(async () => {
  verify = await documentedVerifier();
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function deployment(name: string, env: Record<string, string> = {}): Promise<WebhookDeployment & { queue: JetStreamQueue }> {
  const d = await webhookDeployment(name, env);
  cleanups.push(() => d.close());
  const queue = new JetStreamQueue({ nats: d.nc, prefix: d.prefix, logger });
  await queue.start();
  cleanups.push(() => queue.close());
  return { ...d, queue };
}

/** Waits until GET /admin/webhooks counts `n` events as `what`. */
async function counted(node: TestNode, what: 'pending' | 'failed', n: number): Promise<void> {
  await eventually(`${n} ${what}`, async () => {
    const body = (await node.admin('GET', '/admin/webhooks')).body as Record<string, number>;
    return { ok: body[what] === n, seen: body };
  });
}

const seqsOf = (rs: Received[], room: string, type = 'message.stored') => rs.filter((r) => r.body.room === room && r.body.type === type).map((r) => r.body.data['seq'] as number);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

it('every stored message is POSTed once, signed: the verifier of docs/webhooks.md accepts it and refuses it tampered or late', async () => {
  const d = await deployment('wh_sig');
  await d.worker();
  for (let seq = 1; seq <= 5; seq++) await d.queue.publish(message('signed', seq), 'ep1');
  await d.receiver.waitFor('5 messages', (r) => r.delivered().length === 5);
  expect(d.receiver.received).toHaveLength(5);
  for (const [i, r] of d.receiver.received.entries()) {
    const seq = i + 1;
    expect(r.body).toEqual({ id: `message.stored/signed/ep1/${seq}`, type: 'message.stored', room: 'signed', ts: message('signed', seq).ts, data: { ...message('signed', seq), room: undefined, epoch: 'ep1' } });
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers['parley-idempotency-key']).toBe(r.body.id);
    expect(r.headers['parley-event-type']).toBe('message.stored');
    expect(r.headers['parley-attempt']).toBe('1');
    const header = String(r.headers['parley-signature']);
    const t = Number(/^t=(\d+),v1=[0-9a-f]{64}$/.exec(header)?.[1]);
    expect(Math.abs(t - Date.now() / 1000)).toBeLessThan(60);
    expect(verify(WEBHOOK_SECRET, header, r.raw)).toBe(true);
    expect(verify(WEBHOOK_SECRET, header, Buffer.from(r.raw.toString().replace('"body":"m', '"body":"M')))).toBe(false);
    expect(verify(WEBHOOK_SECRET, header, r.raw, 300, t + 301)).toBe(false);
    expect(verify('another-secret-0123456789', header, r.raw)).toBe(false);
  }
});

it("a room's events stay in order while the receiver fails their first attempts, across two workers; another room is not held back", async () => {
  const d = await deployment('wh_order', { WEBHOOK_PARTITIONS: '4' });
  const [slow, fast] = roomsApart((room) => partitionOf(room, 4), 'order');
  // Every event of `slow` fails twice before it is taken.
  d.receiver.answer = (body, attempt) => ({ status: body.room === slow && attempt < 3 ? 503 : 200 });
  const [w1] = [await d.worker({ NODE_ID: 'w1' }), await d.worker({ NODE_ID: 'w2' })];
  for (let seq = 1; seq <= 10; seq++) {
    await d.queue.publish(message(slow, seq), 'e');
    await d.queue.publish(message(fast, seq), 'e');
  }
  await d.receiver.waitFor('both rooms delivered', (r) => seqsOf(r.delivered(), slow).length === 10 && seqsOf(r.delivered(), fast).length === 10);
  const all = d.receiver.received;
  expect(seqsOf(d.receiver.delivered(), slow)).toEqual(range(1, 10));
  expect(seqsOf(d.receiver.delivered(), fast)).toEqual(range(1, 10));
  // Every attempt, failed or not, in order: no event was tried before the one ahead of it was taken.
  expect(seqsOf(all, slow)).toEqual(range(1, 10).flatMap((s) => [s, s, s]));
  expect(all.filter((r) => r.body.room === slow).map((r) => Number(r.headers['parley-attempt']))).toEqual(range(1, 10).flatMap(() => [1, 2, 3]));
  expect(seqsOf(all, fast)).toEqual(range(1, 10));
  const lastFast = Math.max(...all.filter((r) => r.body.room === fast).map((r) => r.at));
  const lastSlow = Math.max(...all.filter((r) => r.body.room === slow).map((r) => r.at));
  expect(lastFast).toBeLessThan(lastSlow);
  const retried = await metricValue(w1.registry, 'parley_webhook_retried_total');
  expect(retried).toBeGreaterThan(0);
  expect(retried).toBeLessThanOrEqual(20);
});

it('dead-lettered after WEBHOOK_MAX_ATTEMPTS: the room goes on, the admin API lists it, a replay delivers it with its id', async () => {
  const d = await deployment('wh_dead', { WEBHOOK_MAX_ATTEMPTS: '3' });
  const node = await startNode({ ...d.env, NODE_ENV: 'test' });
  cleanups.push(() => node.close());
  const w = await d.worker();
  let refuse = true;
  d.receiver.answer = (body) => ({ status: refuse && body.id === 'message.stored/dead/e/1' ? 500 : 200 });
  await d.queue.publish(message('dead', 1), 'e');
  await d.queue.publish(message('dead', 2), 'e');
  await d.receiver.waitFor('seq 2 after seq 1 gave up', (r) => seqsOf(r.delivered(), 'dead').includes(2));
  expect(seqsOf(d.receiver.received, 'dead')).toEqual([1, 1, 1, 2]);
  expect(await metricValue(w.registry, 'parley_webhook_dead_lettered_total', { reason: 'max-attempts' })).toBe(1);
  expect(await metricValue(w.registry, 'parley_webhook_delivered_total', { type: 'message.stored' })).toBe(1);

  expect((await node.admin('GET', '/admin/webhooks')).body).toEqual({ pending: 0, relaying: 0, failed: 1 });
  const failed = await node.admin('GET', '/admin/webhooks/failed?limit=10');
  expect(failed.body).toMatchObject({ failed: [{ id: 'message.stored/dead/e/1', type: 'message.stored', room: 'dead', attempts: 3, reason: 'max-attempts', error: 'HTTP 500' }], next: null });
  const seq = (failed.body as { failed: { seq: number }[] }).failed[0]?.seq ?? 0;
  expect((await node.admin('POST', `/admin/webhooks/failed/${seq + 100}/replay`)).status).toBe(404);
  expect((await node.admin('POST', '/admin/webhooks/failed/x/replay')).status).toBe(400);

  refuse = false;
  const before = d.receiver.received.length;
  expect(await node.admin('POST', `/admin/webhooks/failed/${seq}/replay`)).toEqual({ status: 200, body: { replayed: 1 } });
  await d.receiver.waitFor('the replay', (r) => r.delivered().some((x) => x.body.id === 'message.stored/dead/e/1'));
  const replayed = d.receiver.received.slice(before);
  expect(replayed.map((r) => [r.body.id, r.status, r.headers['parley-attempt']])).toEqual([['message.stored/dead/e/1', 200, '1']]);
  expect(replayed[0]?.raw.equals(d.receiver.received[0]?.raw ?? Buffer.alloc(0))).toBe(true);
  expect((await node.admin('GET', '/admin/webhooks')).body).toEqual({ pending: 0, relaying: 0, failed: 0 });
  expect((await node.admin('POST', '/admin/webhooks/failed/replay')).body).toEqual({ replayed: 0, skipped: 0 });
});

it('the admin API lists pending events, pages them, and replays every dead letter at once', async () => {
  const d = await deployment('wh_pending', { WEBHOOK_MAX_ATTEMPTS: '1' });
  const node = await startNode({ ...d.env, NODE_ENV: 'test' });
  cleanups.push(() => node.close());
  // No worker yet: what the gateway queues (presence) waits.
  const ws = await TestClient.connect('ws', node, await node.token('pat'));
  cleanups.push(() => Promise.resolve(ws.close()));
  for (const room of ['p1', 'p2', 'p3']) await ws.join(room);
  await counted(node, 'pending', 3);
  const first = await node.admin('GET', '/admin/webhooks/pending?limit=2');
  expect(first.body).toMatchObject({ events: [{ type: 'user.online', room: 'p1', id: expect.stringMatching(/^user\.online\/p1\/\d+\/pat$/) }, { room: 'p2' }] });
  const next = (first.body as { next: string }).next;
  expect((await node.admin('GET', `/admin/webhooks/pending?cursor=${next}`)).body).toMatchObject({ events: [{ room: 'p3' }], next: null });
  expect((await node.admin('GET', '/admin/webhooks/pending?limit=0')).status).toBe(400);

  d.receiver.answer = () => ({ status: 500 });
  await d.worker();
  await d.receiver.waitFor('three attempts', (r) => r.received.length === 3);
  await counted(node, 'failed', 3);
  d.receiver.answer = () => ({ status: 200 });
  expect((await node.admin('POST', '/admin/webhooks/failed/replay')).body).toEqual({ replayed: 3, skipped: 0 });
  await d.receiver.waitFor('the replays', (r) => r.delivered().length === 3);
  // Three rooms: sent in parallel, in any order.
  expect(d.receiver.delivered().map((r) => r.body.room).sort()).toEqual(['p1', 'p2', 'p3']);
  expect((await node.admin('GET', '/admin/webhooks')).body).toEqual({ pending: 0, relaying: 0, failed: 0 });
});
