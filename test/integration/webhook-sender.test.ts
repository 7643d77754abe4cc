import { afterEach, beforeEach, expect, it } from 'vitest';
import { WebhookSender } from '../../src/webhooks/webhook-sender.js';
import { freePort } from '../helpers/cluster.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';

// What counts as a delivery, against a real HTTP server: a 2xx in time, and nothing else.

let receiver: WebhookReceiver;
const senders: WebhookSender[] = [];
beforeEach(async () => {
  receiver = await WebhookReceiver.start();
});
afterEach(async () => {
  senders.splice(0).forEach((s) => s.close());
  await receiver.close();
});

const body = new TextEncoder().encode(JSON.stringify({ id: 'e1', type: 'user.online', room: 'r', ts: 1, data: { user: 'u' } }));
const meta = { id: 'e1', type: 'user.online', attempt: 2 };
function sender(url = receiver.url, timeoutMs = 2_000): WebhookSender {
  const s = new WebhookSender({ url, secret: 'whsec-0123456789abcdef', timeoutMs });
  senders.push(s);
  return s;
}

it('a 2xx delivers; the request carries the body and the headers of docs/webhooks.md', async () => {
  for (const status of [200, 202, 204]) {
    receiver.answer = () => ({ status });
    expect(await sender().send(body, meta)).toMatchObject({ ok: true, status });
  }
  const r = receiver.received.at(-1);
  expect(r?.raw.equals(Buffer.from(body))).toBe(true);
  expect(r?.headers).toMatchObject({ 'content-type': 'application/json', 'parley-idempotency-key': 'e1', 'parley-event-type': 'user.online', 'parley-attempt': '2', 'user-agent': 'Parley-Webhooks/1' });
  expect(r?.headers['parley-signature']).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
});

it('any other status fails the attempt, a redirect too (not followed)', async () => {
  for (const status of [301, 302, 400, 404, 409, 500, 503]) {
    receiver.answer = () => ({ status });
    expect(await sender().send(body, meta)).toMatchObject({ ok: false, status, error: `HTTP ${status}` });
  }
  expect(receiver.received).toHaveLength(7);
});

it('no answer within the timeout fails, after the timeout', async () => {
  receiver.answer = () => ({ status: 200, delayMs: 1_500 });
  const outcome = await sender(receiver.url, 300).send(body, meta);
  expect(outcome).toMatchObject({ ok: false, error: 'no answer within 300 ms' });
  expect(outcome.ms).toBeGreaterThanOrEqual(290);
  expect(outcome.ms).toBeLessThan(1_500);
});

it('a refused connection fails, naming the error and not the URL', async () => {
  const outcome = await sender(`http://user:hunter2@127.0.0.1:${await freePort()}/hooks`).send(body, meta);
  expect(outcome).toMatchObject({ ok: false, error: 'request failed: ECONNREFUSED' });
});

it('credentials in WEBHOOK_URL go as Basic authentication', async () => {
  const url = receiver.url.replace('http://', 'http://parley:s3cret@');
  expect(await sender(url).send(body, meta)).toMatchObject({ ok: true });
  expect(receiver.received[0]?.headers.authorization).toBe(`Basic ${Buffer.from('parley:s3cret').toString('base64')}`);
});
