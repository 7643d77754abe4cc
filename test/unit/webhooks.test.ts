import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/shared/logger.js';
import { PresenceEvents } from '../../src/webhooks/presence-events.js';
import { RoomMembers } from '../../src/webhooks/room-members.js';
import { signatureHeader } from '../../src/webhooks/signature.js';
import { backoffMs } from '../../src/webhooks/webhook-delivery.js';
import { encodeEvent, missedEvent, presenceEvent, queuedEvent, readEventHeaders, eventHeaders } from '../../src/webhooks/webhook-event.js';
import { hookSubject, partitionOf } from '../../src/webhooks/webhook-streams.js';
import { documentedVerifier, type Verifier } from '../helpers/webhook-receiver.js';

const SECRET = 'whsec-0123456789abcdef';
const body = Buffer.from('{"id":"message.stored/lobby/e1/1","type":"message.stored","room":"lobby","ts":1,"data":{}}');

describe('the signature, checked by the verifier of docs/webhooks.md', () => {
  let verify: Verifier;
  beforeAll(async () => {
    verify = await documentedVerifier();
  });

  it('accepts a request Parley signed, at any time within the tolerance', () => {
    const now = 1_767_225_600_000;
    const header = signatureHeader(SECRET, body, now);
    expect(header).toMatch(/^t=1767225600,v1=[0-9a-f]{64}$/);
    expect(verify(SECRET, header, body, 300, now / 1000)).toBe(true);
    expect(verify(SECRET, header, body, 300, now / 1000 + 300)).toBe(true);
    expect(verify(SECRET, header, body, 300, now / 1000 - 300)).toBe(true);
  });

  it('refuses a tampered body, another secret, an old or future timestamp, a forged t', () => {
    const now = 1_767_225_600_000;
    const header = signatureHeader(SECRET, body, now);
    const tampered = Buffer.from(body.toString().replace('"ts":1', '"ts":2'));
    expect(verify(SECRET, header, tampered, 300, now / 1000)).toBe(false);
    expect(verify('another-secret-0123456789', header, body, 300, now / 1000)).toBe(false);
    expect(verify(SECRET, header, body, 300, now / 1000 + 301)).toBe(false);
    expect(verify(SECRET, header, body, 300, now / 1000 - 301)).toBe(false);
    // A replay with a fresh t but the old v1: the t is part of what is signed.
    expect(verify(SECRET, header.replace('t=1767225600', 't=1767225900'), body, 300, 1_767_225_900)).toBe(false);
  });

  it('refuses malformed headers and accepts one valid v1 among several (secret rotation on the receiver)', () => {
    const now = 1_767_225_600_000;
    const header = signatureHeader(SECRET, body, now);
    for (const bad of [undefined, '', 'garbage', 't=abc,v1=00', `v1=${header.split('v1=')[1] ?? ''}`, 't=1767225600', 't=1767225600,v1=zz']) {
      expect(verify(SECRET, bad, body, 300, now / 1000), String(bad)).toBe(false);
    }
    expect(verify(SECRET, `${header.split(',')[0] ?? ''},v1=${'0'.repeat(64)},${header.split(',')[1] ?? ''}`, body, 300, now / 1000)).toBe(true);
  });
});

describe('events', () => {
  const queued = { room: 'lobby', seq: 42, cid: 'c1', from: 'alice', body: 'hi', ts: 1_700_000_000_042, epoch: 'q3Xw0a7B' };

  it('a queued message is message.stored, keyed by room, epoch and seq', () => {
    const e = queuedEvent(queued);
    expect(e).toEqual({ id: 'message.stored/lobby/q3Xw0a7B/42', type: 'message.stored', room: 'lobby', ts: queued.ts, data: { seq: 42, cid: 'c1', from: 'alice', body: 'hi', ts: queued.ts, epoch: 'q3Xw0a7B' } });
    expect(JSON.parse(Buffer.from(encodeEvent(e!)).toString())).toEqual(e);
    expect(queuedEvent({ ...queued, epoch: undefined })?.id).toBe('message.stored/lobby/-/42');
  });

  it('a change is its own event type: the change as the push has it, a body only for an edit', () => {
    const change = { room: 'lobby', seq: 43, cid: 'k1', from: 'bob', body: '', ts: queued.ts + 1, op: 'react', target: 42, reaction: 'ok', count: 1, users: ['bob'], epoch: 'q3Xw0a7B' };
    expect(queuedEvent(change)).toEqual({ id: 'reaction.added/lobby/q3Xw0a7B/43', type: 'reaction.added', room: 'lobby', ts: change.ts, data: { seq: 43, cid: 'k1', from: 'bob', ts: change.ts, op: 'react', target: 42, reaction: 'ok', count: 1, users: ['bob'], epoch: 'q3Xw0a7B' } });
    expect(queuedEvent({ ...change, op: 'unreact', count: 0, users: [] })?.type).toBe('reaction.removed');
    expect(queuedEvent({ ...change, op: 'edit', body: 'hello', version: 2 })?.data).toMatchObject({ body: 'hello', version: 2 });
    expect(queuedEvent({ ...change, op: 'delete', version: 3 })).toMatchObject({ type: 'message.deleted', data: { target: 42, version: 3 } });
    expect(queuedEvent({ ...change, op: 'delete' })?.data).not.toHaveProperty('body');
    expect(queuedEvent({ ...queued, parent: 40 })?.data).toMatchObject({ parent: 40 });
  });

  it('a kind without a webhook type, or a payload without room, seq or ts, sends nothing', () => {
    expect(queuedEvent({ ...queued, kind: 'reaction' })).toBeUndefined();
    expect(queuedEvent({ ...queued, kind: 'msg' })?.type).toBe('message.stored');
    expect(queuedEvent({ ...queued, seq: 'x' })).toBeUndefined();
    expect(queuedEvent({ ...queued, room: undefined })).toBeUndefined();
    expect(queuedEvent({ ...queued, ts: undefined })).toBeUndefined();
  });

  it('message.missed carries the users and its own id; presence ids percent-encode the user', () => {
    const stored = queuedEvent(queued)!;
    expect(missedEvent(stored, ['bob', 'dave'])).toEqual({ id: 'message.missed/lobby/q3Xw0a7B/42', type: 'message.missed', room: 'lobby', ts: queued.ts, data: { seq: 42, cid: 'c1', from: 'alice', epoch: 'q3Xw0a7B', users: ['bob', 'dave'] } });
    expect(presenceEvent('lobby', 'alice', 'online', 5).id).toBe('user.online/lobby/5/alice');
    expect(presenceEvent('lobby', 'a b/\nc\uD800', 'offline', 6)).toEqual({ id: 'user.offline/lobby/6/a%20b%2F%0Ac%EF%BF%BD', type: 'user.offline', room: 'lobby', ts: 6, data: { user: 'a b/\nc\uD800' } });
  });

  it('headers round-trip; a message without them is unreadable', () => {
    const e = presenceEvent('lobby', 'alice', 'online', 5);
    const h = new Map(Object.entries(eventHeaders(e)));
    expect(readEventHeaders({ get: (k) => h.get(k) ?? '' })).toEqual({ id: e.id, type: e.type, room: 'lobby', ts: 5 });
    expect(readEventHeaders({ get: () => '' })).toBeUndefined();
    expect(readEventHeaders(undefined)).toBeUndefined();
  });
});

describe('partitions and backoff', () => {
  it('a room always has the same partition, within range, and rooms spread over all of them', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) {
      const p = partitionOf(`room-${i}`, 16);
      expect(p).toBe(partitionOf(`room-${i}`, 16));
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThan(16);
      seen.add(p);
    }
    expect(seen.size).toBe(16);
    expect(partitionOf('anything', 1)).toBe(0);
    expect(hookSubject('parley', 3, 'a.b')).toBe('parley.hooks.3.a~b');
  });

  it('doubles from the base and stops at the cap', () => {
    const b = { baseMs: 1000, maxMs: 300_000 };
    expect([1, 2, 3, 4, 9, 10, 50, 1000].map((a) => backoffMs(a, b))).toEqual([1000, 2000, 4000, 8000, 256_000, 300_000, 300_000, 300_000]);
  });
});

describe('WEBHOOK_* configuration', () => {
  const base = { NODE_ENV: 'test', JWT_SECRET: 'x'.repeat(32), REDIS_URL: 'redis://127.0.0.1:6379', NATS_URL: 'nats://127.0.0.1:4222' };
  const hooks = { WEBHOOK_URL: 'https://user:pw@hooks.example/parley?key=k', WEBHOOK_SECRET: SECRET };
  const refused = (env: Record<string, string>, variable: string) => {
    let err: unknown;
    try {
      loadConfig(env);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).variable).toBe(variable);
    // A bad value is named, never echoed: the URL and the secret may hold credentials.
    expect((err as Error).message).not.toContain('pw@');
    expect((err as Error).message).not.toContain(SECRET);
  };

  it('is off without WEBHOOK_URL and has its defaults with it', () => {
    expect(loadConfig(base).config.webhooks).toBeUndefined();
    expect(loadConfig({ ...base, ...hooks }).config.webhooks).toEqual({ url: hooks.WEBHOOK_URL, secret: SECRET, timeoutMs: 5000, maxAttempts: 10, backoffMs: 1000, backoffMaxMs: 300_000, partitions: 16 });
    expect(loadConfig({ ...base, ...hooks }, { role: 'worker' }).config.webhooks?.partitions).toBe(16);
  });

  it('refuses a missing or short secret, no NATS, a bad URL, a cap below the base, out-of-range numbers', () => {
    refused({ ...base, WEBHOOK_URL: hooks.WEBHOOK_URL }, 'WEBHOOK_SECRET');
    refused({ ...base, ...hooks, WEBHOOK_SECRET: 'short' }, 'WEBHOOK_SECRET');
    refused({ ...base, ...hooks, NATS_URL: '' }, 'WEBHOOK_URL');
    refused({ ...base, ...hooks, WEBHOOK_URL: 'ftp://user:pw@hooks.example/' }, 'WEBHOOK_URL');
    refused({ ...base, ...hooks, WEBHOOK_BACKOFF_MS: '5000', WEBHOOK_BACKOFF_MAX_MS: '1000' }, 'WEBHOOK_BACKOFF_MAX_MS');
    refused({ ...base, ...hooks, WEBHOOK_TIMEOUT_MS: '50' }, 'WEBHOOK_TIMEOUT_MS');
    refused({ ...base, ...hooks, WEBHOOK_MAX_ATTEMPTS: '0' }, 'WEBHOOK_MAX_ATTEMPTS');
    refused({ ...base, ...hooks, WEBHOOK_PARTITIONS: '257' }, 'WEBHOOK_PARTITIONS');
  });
});

describe('RoomMembers', () => {
  it('lists roster users without a device and readers not on the roster, paging through the roster', async () => {
    const roster = [
      { user: 'alice', devices: 2, since: '' },
      { user: 'bob', devices: 0, since: '' },
      { user: 'carol', devices: 1, since: '' },
      { user: 'dave', devices: 0, since: '' },
    ];
    const pages: (string | undefined)[] = [];
    const members = new RoomMembers(
      {
        members: (_room, cursor, limit) => {
          pages.push(cursor);
          const from = cursor === undefined ? 0 : Number(cursor);
          const items = roster.slice(from, from + Math.min(limit, 3));
          return Promise.resolve({ items, next: from + 3 < roster.length ? String(from + 3) : null });
        },
      },
      { readers: () => Promise.resolve(['carol', 'erin', 'bob']) },
    );
    expect(await members.offline('lobby')).toEqual(['bob', 'dave', 'erin']);
    expect(pages).toEqual([undefined, '3']);
  });
});

describe('PresenceEvents', () => {
  const stream = 'PARLEY_t_HOOKS';
  const logged: string[] = [];
  const logger = createLogger('warn', { write: (line: string) => void logged.push(line) });

  it('publishes in the order decided, each retried (same id) before the next', async () => {
    const sent: string[] = [];
    let failures = 2;
    const events = new PresenceEvents(
      {
        publish: (_subject, _data, msgId) => {
          sent.push(msgId);
          if (msgId.startsWith('user.online/r/1/') && failures-- > 0) return Promise.reject(new Error('no PubAck within 5000 ms'));
          return Promise.resolve({ stream, seq: sent.length, duplicate: false });
        },
      },
      { prefix: 't', partitions: 4, stream, logger, retryMinMs: 5 },
    );
    events.changed('r', 'alice', 'online', 1);
    events.changed('r', 'alice', 'offline', 2);
    events.changed('s', 'bob', 'online', 3);
    await events.flush(5_000);
    expect(sent).toEqual(['user.online/r/1/alice', 'user.online/r/1/alice', 'user.online/r/1/alice', 'user.offline/r/2/alice', 'user.online/s/3/bob']);
  });

  it('gives an event up after its attempts, logged, and goes on', async () => {
    logged.length = 0;
    const sent: string[] = [];
    const events = new PresenceEvents(
      {
        publish: (_subject, _data, msgId) => {
          sent.push(msgId);
          return msgId.includes('/lost') ? Promise.reject(new Error('JetStream did not take the message: 503')) : Promise.resolve({ stream, seq: 1, duplicate: false });
        },
      },
      { prefix: 't', partitions: 4, stream, logger, retryMinMs: 1, attempts: 3 },
    );
    events.changed('r', 'lost', 'offline', 1);
    events.changed('r', 'kept', 'offline', 2);
    await events.flush(5_000);
    expect(sent).toEqual(['user.offline/r/1/lost', 'user.offline/r/1/lost', 'user.offline/r/1/lost', 'user.offline/r/2/kept']);
    expect(logged.some((l) => l.includes('it is lost') && l.includes('user.offline/r/1/lost'))).toBe(true);
  });
});
