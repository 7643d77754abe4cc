import { describe, expect, it } from 'vitest';
import { KINDS } from '../helpers/clients.js';
import { nodeFor, trackedClients } from '../helpers/fixtures.js';

/**
 * docs/protocol.md, the token's `rooms` claim and the rule order: bad_request / too_large, then
 * rate_limited, then forbidden, then not_joined.
 */

const connect = trackedClients();

const code = (r: { ok: boolean; error?: { code: string } }): string => (r.ok ? 'ok' : (r.error?.code ?? '?'));

describe.each(KINDS)('%s: rooms claim', (kind) => {
  const node = nodeFor();

  it("refuses rooms outside the token's rooms with forbidden, before not_joined", async () => {
    const c = await connect(node(), kind, `af-${kind}`, ['team-*', 'lobby']);
    const outside = `other-${kind}`;
    expect(code(await c.request('join', { room: outside }))).toBe('forbidden');
    expect(code(await c.request('join', { room: 'lobby2' }))).toBe('forbidden');
    expect(code(await c.request('join', { room: 'team' }))).toBe('forbidden');
    for (const [t, payload] of [
      ['send', { room: outside, cid: 'c1', body: 'x' }],
      ['typing', { room: outside, on: true }],
      ['read', { room: outside, seq: 0 }],
      ['history', { room: outside }],
      ['presence', { room: outside }],
      ['leave', { room: outside }],
    ] as [string, Record<string, unknown>][]) {
      expect(code(await c.request(t, payload)), t).toBe('forbidden');
    }
    // Inside the claim but not joined: not_joined.
    expect(code(await c.request('send', { room: `team-${kind}`, cid: 'c1', body: 'x' }))).toBe('not_joined');
    expect(code(await c.request('join', { room: `team-${kind}` }))).toBe('ok');
    expect(code(await c.request('join', { room: 'lobby' }))).toBe('ok');
    expect(code(await c.request('send', { room: `team-${kind}`, cid: 'c1', body: 'x' }))).toBe('ok');
  });

  it('answers bad_request for a frame that is also forbidden or not joined', async () => {
    const c = await connect(node(), kind, `ab-${kind}`, ['team-*']);
    const outside = `other-${kind}`;
    for (const [t, payload] of [
      ['send', { room: outside, cid: 'has space', body: 'x' }],
      ['send', { room: outside, cid: 'c1', body: 5 }],
      ['join', { room: outside, since: -1 }],
      ['history', { room: outside, limit: 0 }],
      ['presence', { room: outside, limit: 501 }],
      ['typing', { room: outside }],
      ['send', { room: `team-${kind}`, cid: 'c1' }],
      ['read', { room: `team-${kind}`, seq: 'x' }],
    ] as [string, Record<string, unknown>][]) {
      expect(code(await c.request(t, payload)), `${t} ${JSON.stringify(payload)}`).toBe('bad_request');
    }
    // too_large ranks with bad_request, before forbidden.
    expect(code(await c.request('send', { room: outside, cid: 'c1', body: 'x'.repeat(5000) }))).toBe('too_large');
  });

  it('gives a token without a rooms claim the AUTH_DEFAULT_ROOMS, empty outside dev mode', async () => {
    const c = await connect(node(), kind, `an-${kind}`, null);
    for (const room of [`any-${kind}`, 'lobby', 'team-1']) expect(code(await c.request('join', { room })), room).toBe('forbidden');
    // An empty claim allows nothing either.
    const d = await connect(node(), kind, `ae-${kind}`, []);
    expect(code(await d.request('join', { room: `any-${kind}` }))).toBe('forbidden');
  });
});

describe.each(KINDS)('%s: AUTH_DEFAULT_ROOMS', (kind) => {
  const node = nodeFor({ AUTH_DEFAULT_ROOMS: 'lobby,pub-*' });

  it('applies to tokens without a rooms claim, and a claim replaces it', async () => {
    const c = await connect(node(), kind, `dn-${kind}`, null);
    expect(code(await c.request('join', { room: 'lobby' }))).toBe('ok');
    expect(code(await c.request('join', { room: `pub-${kind}` }))).toBe('ok');
    expect(code(await c.request('join', { room: `private-${kind}` }))).toBe('forbidden');
    const d = await connect(node(), kind, `dc-${kind}`, [`private-${kind}`]);
    expect(code(await d.request('join', { room: 'lobby' }))).toBe('forbidden');
    expect(code(await d.request('join', { room: `private-${kind}` }))).toBe('ok');
  });
});

describe.each(KINDS)('%s: rate_limited in the rule order', (kind) => {
  // One frame per second, no burst: after one ping the bucket stays empty for the whole test.
  const node = nodeFor({ RATE_PER_S: '1', RATE_BURST: '1' });

  it('answers bad_request before rate_limited, and rate_limited before forbidden and not_joined', async () => {
    const c = await connect(node(), kind, `rl-${kind}`, ['team-*']);
    expect(code(await c.request('ping'))).toBe('ok');
    expect(code(await c.request('join', { room: 'bad room' }))).toBe('bad_request');
    expect(code(await c.request('send', { room: `other-${kind}`, cid: 'c1', body: 'x' }))).toBe('rate_limited');
    expect(code(await c.request('send', { room: `team-${kind}`, cid: 'c1', body: 'x' }))).toBe('rate_limited');
    expect(code(await c.request('history', { room: `other-${kind}`, limit: 0 }))).toBe('bad_request');
  });
});
