import { afterEach, expect, it } from 'vitest';
import { JetStreamQueue } from '../../src/bus/jetstream-queue.js';
import type { ChatMessage } from '../../src/domain/messages.js';
import { createLogger } from '../../src/shared/logger.js';
import { webhookNames } from '../../src/webhooks/webhook-streams.js';
import { spawnWorker, stopProcess, type WorkerProcess } from './persist-child.js';
import { message } from './persist-support.js';
import { webhookDeployment, type WebhookDeployment } from './webhook-support.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function worker(d: WebhookDeployment, nodeId: string): WorkerProcess {
  const env = { ...d.env, NODE_ID: nodeId, LOG_LEVEL: 'info', TEST_ACK_WAIT_MS: '1500', TEST_LEASE_MS: '1500' };
  const p = spawnWorker('test/integration/persist-worker-child.ts', [], env);
  cleanups.push(() => stopProcess(p));
  return p;
}

const ROOMS = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5'];
/** `n` messages per room from seq `from`, interleaved across the rooms. */
const batch = (from: number, n: number): ChatMessage[] => Array.from({ length: n }, (_, i) => from + i).flatMap((seq) => ROOMS.map((room) => message(room, seq)));

it('kill -9 of the webhook worker mid-delivery, then a restart: every event is delivered at least once, in order per room', async () => {
  const d = await webhookDeployment('wh_crash', { WEBHOOK_PARTITIONS: '3', WEBHOOK_MAX_ATTEMPTS: '50' });
  cleanups.push(() => d.close());
  const queue = new JetStreamQueue({ nats: d.nc, prefix: d.prefix, logger: createLogger('silent') });
  await queue.start();
  cleanups.push(() => queue.close());
  // Every answer takes a while: the worker always has requests open.
  d.receiver.answer = () => ({ status: 200, delayMs: 40 });

  const first = worker(d, 'crash-1');
  await first.started;
  const before = batch(1, 40);
  await Promise.all(before.map((m) => queue.publish(m, 'e')));
  await d.receiver.waitFor('the first deliveries', (r) => r.delivered().length >= 30);
  await d.receiver.waitFor('a request in flight', (r) => r.inFlight > 0, 10_000);
  // Killed mid-request (same turn: no answer reaches it): those events must be attempted again.
  const cutOff = d.receiver.received.filter((r) => r.status === 0).map((r) => r.body.id);
  first.child.kill('SIGKILL');
  expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });
  expect(cutOff.length).toBeGreaterThan(0);
  const deliveredAtKill = d.receiver.delivered().length;
  expect(deliveredAtKill).toBeLessThan(before.length);

  const after = batch(41, 10);
  await Promise.all(after.map((m) => queue.publish(m, 'e')));
  const second = worker(d, 'crash-2');
  await second.started;
  const all = [...before, ...after];
  const expected = new Set(all.map((m) => `message.stored/${m.room}/e/${m.seq}`));
  await d.receiver.waitFor('every event delivered', (r) => new Set(r.delivered().map((x) => x.body.id)).size === expected.size, 60_000);

  const delivered = d.receiver.delivered();
  expect(new Set(delivered.map((r) => r.body.id))).toEqual(expected);
  const retriedAfterKill = cutOff.filter((id) => d.receiver.received.some((r) => r.body.id === id && Number(r.headers['parley-attempt']) > 1));
  expect(retriedAfterKill.length).toBeGreaterThan(0);
  for (const room of ROOMS) {
    // In order per room: each event's first delivery comes after the one before it.
    const firsts = [...new Map(delivered.filter((r) => r.body.room === room).map((r) => [r.body.data['seq'] as number, r] as const).reverse()).keys()].reverse();
    expect(firsts, room).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  }
  const duplicates = delivered.length - expected.size;
  expect(duplicates).toBeGreaterThanOrEqual(0);
  // SIGTERM: attempts in flight finish, the lease is given up, the process exits 0.
  second.child.kill('SIGTERM');
  expect(await second.exited).toEqual({ code: 0, signal: null });
  const lease = await (await d.nc.jetstream().views.kv(webhookNames(d.prefix).leaseBucket)).get('relay');
  expect(lease === null || lease.operation !== 'PUT').toBe(true);
  console.info(`webhook crash test: ${expected.size} events, ${deliveredAtKill} delivered before the kill, ${duplicates} delivered twice, ${d.receiver.received.length} requests`);
}, 120_000);

it('`parley worker` with WEBHOOK_URL but no Redis exits 1 naming WEBHOOK_URL', async () => {
  const d = await webhookDeployment('wh_noredis');
  cleanups.push(() => d.close());
  const cli = spawnWorker('src/cli.ts', ['worker'], { ...d.env, REDIS_URL: '' });
  cleanups.push(() => stopProcess(cli));
  expect((await cli.exited).code).toBe(1);
  expect(cli.output()).toContain('invalid configuration: WEBHOOK_URL: the webhook worker needs REDIS_URL');
  expect(cli.output()).not.toContain(d.env['WEBHOOK_SECRET']);
});
