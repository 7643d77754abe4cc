import { beforeAll, describe, expect, it } from 'vitest';
import { KINDS, type Frame, type Reply, type TestClient } from '../helpers/clients.js';
import { nodeFor, trackedClients } from '../helpers/fixtures.js';

/**
 * docs/protocol.md, "Recovery": a `join` reply is at most RECOVERY_MAX_BYTES (default 262144) of
 * serialized frame; what does not fit is left for `history` with `after` (`more: true`). Also the
 * rules of `history` with `after`.
 */

const CAP = 262144;
const COUNT = 600;
const BODY = 3000;

// Rooms are filled with hundreds of sends: the rate limit is not under test here.
const node = nodeFor({ RATE_PER_S: '1000', RATE_BURST: '1000' });
const connect = trackedClients();

/** The reply as a /ws client reads it off the wire (JSON keeps the server's serialization). */
const frameBytes = (rid: number, reply: Reply): number => Buffer.byteLength(JSON.stringify({ t: 'reply', rid, ...reply }), 'utf8');
const seqsOf = (messages: Frame[]): number[] => messages.map((m) => m['seq'] as number);
const oneTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

/** Follows `history` with `after` from `after` until `more` is false; every reply within the cap. */
async function pageAfter(c: TestClient, room: string, after: number): Promise<number[]> {
  const seqs: number[] = [];
  for (let more = true, from = after; more; ) {
    const r = await c.request('history', { room, after: from, limit: 100 });
    expect(r.ok).toBe(true);
    expect(frameBytes(1, r)).toBeLessThanOrEqual(CAP);
    const page = seqsOf(r.data.messages);
    expect(page.length).toBeGreaterThan(0);
    seqs.push(...page);
    from = page.at(-1)!;
    more = r.data.more;
  }
  return seqs;
}

describe.each(KINDS)('%s: a join with since in a room of large messages', (kind) => {
  const room = `cap-${kind}`;
  beforeAll(async () => {
    const a = await connect(node(), kind, `cap-a-${kind}`);
    await a.join(room);
    await Promise.all(oneTo(COUNT).map((i) => a.send(room, `c${i}`, `${i}:`.padEnd(BODY, 'x'))));
  });

  it('answers the oldest run that fits RECOVERY_MAX_BYTES, more and not recovered, and keeps the client', async () => {
    const b = await connect(node(), kind, `cap-b-${kind}`);
    let closed = false;
    void b.closed.then(() => (closed = true));
    const r = await b.request('join', { room, since: 0 });
    expect(r.ok).toBe(true);
    expect(frameBytes(1, r)).toBeLessThanOrEqual(CAP);
    expect(r.data).toMatchObject({ room, head: COUNT, recovered: false, more: true });
    const seqs = seqsOf(r.data.messages);
    expect(seqs.length).toBeGreaterThan(50);
    expect(seqs).toEqual(oneTo(seqs.length));
    expect(r.data.messages[0]).toMatchObject({ seq: 1, cid: 'c1', from: `cap-a-${kind}`, body: '1:'.padEnd(BODY, 'x') });

    // The rest, with history after the highest seq held: every message once, in order.
    expect([...seqs, ...(await pageAfter(b, room, seqs.at(-1)!))]).toEqual(oneTo(COUNT));
    await b.barrier();
    expect(closed).toBe(false);
  });

  it('history pages at the byte cap both ways: after from 0, and before the head', async () => {
    const b = await connect(node(), kind, `cap-c-${kind}`);
    await b.join(room);
    expect(await pageAfter(b, room, 0)).toEqual(oneTo(COUNT));
    const newest = await b.request('history', { room, limit: 100 });
    expect(frameBytes(1, newest)).toBeLessThanOrEqual(CAP);
    expect(newest.data.more).toBe(true);
    const seqs = seqsOf(newest.data.messages);
    expect(seqs).toEqual(oneTo(seqs.length).map((s) => COUNT - seqs.length + s));
  });
});

describe.each(KINDS)('%s: history with after', (kind) => {
  it('returns the oldest above after, more while newer ones exist, nothing above the head', async () => {
    const room = `after-${kind}`;
    const a = await connect(node(), kind, `af-a-${kind}`);
    await a.join(room);
    for (const i of oneTo(7)) await a.send(room, `c${i}`, `body ${i}`);
    const page = async (fields: Record<string, unknown>) => (await a.request('history', { room, ...fields })).data;
    expect(seqsOf((await page({ after: 0, limit: 3 })).messages)).toEqual([1, 2, 3]);
    expect(await page({ after: 0, limit: 3 })).toMatchObject({ room, more: true });
    expect(await page({ after: 4, limit: 3 })).toMatchObject({ more: false, messages: [{ seq: 5, body: 'body 5' }, { seq: 6 }, { seq: 7 }] });
    expect(await page({ after: 7 })).toEqual({ room, messages: [], changes: [], more: false });
    expect(await page({ after: 1000 })).toEqual({ room, messages: [], changes: [], more: false });
    expect(seqsOf((await page({ after: 2 })).messages)).toEqual([3, 4, 5, 6, 7]);
  });

  it.each([
    ['before and after together', { before: 5, after: 1 }],
    ['a negative after', { after: -1 }],
    ['a fractional after', { after: 1.5 }],
    ['after as a string', { after: '1' }],
    ['limit 0 with after', { after: 0, limit: 0 }],
    ['limit 101 with after', { after: 0, limit: 101 }],
  ])('refuses %s with bad_request', async (_name, fields) => {
    const room = `after-bad-${kind}`;
    const a = await connect(node(), kind, `ab-a-${kind}`);
    await a.join(room);
    expect(await a.request('history', { room, ...fields })).toMatchObject({ ok: false, error: { code: 'bad_request' } });
  });
});
