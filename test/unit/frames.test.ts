import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CID_RE, decodeObject, decodeText, ROOM_RE, type Decoded, type FrameLimits, type Request } from '../../src/gateway/frames.js';

/** src/gateway/frames.ts: the decoder is total, and refuses (never clamps) what docs/protocol.md rules out. */

const LIMITS: FrameLimits = { maxBodyBytes: 64, maxMetaBytes: 48, maxReactionBytes: 8 };
const TYPES = new Set(['join', 'leave', 'send', 'typing', 'read', 'history', 'presence', 'occupancy', 'moderate', 'auth', 'ping']);
const RUNS = { numRuns: 500 };

/** The shape every decode result must have, whatever the input. */
function expectWellFormed(d: Decoded): void {
  if (d.ok) {
    expect(TYPES.has(d.req.t)).toBe(true);
  } else {
    expect(['bad_request', 'too_large']).toContain(d.error.code);
    expect(typeof d.error.message).toBe('string');
  }
}

function stringifyOrNull(v: unknown): string | null {
  try {
    return JSON.stringify(v) ?? null;
  } catch {
    return null; // BigInt and friends
  }
}

const NAME_CHARS = [...'ABCXYZabcxyz0189_.:@-'];
const name = (max: number): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...NAME_CHARS), minLength: 1, maxLength: max });
const room = name(128);
const uint = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const smallBody = fc.string({ maxLength: 30 }).filter((b) => Buffer.byteLength(b, 'utf8') <= LIMITS.maxBodyBytes);

interface Valid {
  frame: Record<string, unknown>;
  req: Request;
}

/** A frame and the request the decoder must return for it. */
const valid = (frame: Record<string, unknown>, req: Request): Valid => ({ frame, req });
const opt = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined });

/** Valid request frames, every type, optional fields present or not. */
const validFrame: fc.Arbitrary<Valid> = fc.oneof(
  fc.record({ room, since: opt(uint), epoch: opt(fc.string({ maxLength: 64 })), presence: opt(fc.constantFrom('each' as const, 'delta' as const)) }).map(({ room, since, epoch, presence }) => {
    const extra = { ...(since !== undefined ? { since } : {}), ...(epoch !== undefined ? { epoch } : {}), ...(presence !== undefined ? { presence } : {}) };
    return valid({ t: 'join', room, ...extra }, { t: 'join', room, ...extra });
  }),
  room.map((room) => valid({ t: 'leave', room }, { t: 'leave', room })),
  fc.record({ room, cid: name(64), body: smallBody, meta: opt(fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 2 })) }).map(({ room, cid, body, meta }) => {
    const m = meta !== undefined ? { meta } : {};
    return valid({ t: 'send', room, cid, body, ...m }, { t: 'send', room, cid, body, ...m });
  }),
  fc.record({ room, on: fc.boolean() }).map(({ room, on }) => valid({ t: 'typing', room, on }, { t: 'typing', room, on })),
  fc.record({ room, seq: uint }).map(({ room, seq }) => valid({ t: 'read', room, seq }, { t: 'read', room, seq })),
  fc.record({
    room,
    anchor: fc.oneof(fc.constant({}), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }).map((before) => ({ before })), uint.map((after) => ({ after }))),
    limit: opt(fc.integer({ min: 1, max: 100 })),
  }).map(({ room, anchor, limit }) => {
    return valid({ t: 'history', room, ...anchor, ...(limit !== undefined ? { limit } : {}) }, { t: 'history', room, ...anchor, limit: limit ?? 50 });
  }),
  fc.record({ room, cursor: opt(fc.string({ maxLength: 256 })), limit: opt(fc.integer({ min: 1, max: 500 })) }).map(({ room, cursor, limit }) => {
    const c = cursor !== undefined ? { cursor } : {};
    return valid({ t: 'presence', room, ...c, ...(limit !== undefined ? { limit } : {}) }, { t: 'presence', room, ...c, limit: limit ?? 100 });
  }),
  room.map((room) => valid({ t: 'occupancy', room }, { t: 'occupancy', room })),
  fc.record({ room, user: fc.string({ minLength: 1, maxLength: 128 }), restrict: fc.boolean(), ban: fc.boolean(), duration: opt(fc.integer({ min: 1, max: 365 * 86400 })) }).map(({ room, user, restrict, ban, duration }) => {
    const action = restrict ? (ban ? 'ban' : 'mute') : ban ? 'unban' : 'unmute';
    const d = restrict && duration !== undefined ? { duration } : {};
    return valid({ t: 'moderate', room, action, user, ...d }, { t: 'moderate', room, action, user, ...d });
  }),
  fc.string({ minLength: 1, maxLength: 200 }).map((token) => valid({ t: 'auth', token }, { t: 'auth', token })),
  fc.constant(valid({ t: 'ping' }, { t: 'ping' })),
);

describe('the decoder is total', () => {
  it('decodeText: any string', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => expectWellFormed(decodeText(s, LIMITS))), RUNS);
  });

  it('decodeText: any JSON text', () => {
    fc.assert(fc.property(fc.json(), (s) => expectWellFormed(decodeText(s, LIMITS))), RUNS);
  });

  it('decodeText: anything JSON.stringify can write', () => {
    fc.assert(
      fc.property(fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withSparseArray: true, withNullPrototype: true }), (v) => {
        const text = stringifyOrNull(v);
        if (text !== null) expectWellFormed(decodeText(text, LIMITS));
      }),
      RUNS,
    );
  });

  it('decodeObject: any value, with or without a transport rid', () => {
    fc.assert(
      fc.property(fc.anything({ withNullPrototype: true, withObjectString: true }), opt(fc.oneof(fc.integer(), fc.string())), (v, rid) => {
        expectWellFormed(decodeObject(v, LIMITS, rid));
      }),
      RUNS,
    );
  });

  it('decodeObject: known types with random fields of random types', () => {
    const field = fc.oneof(fc.jsonValue(), fc.constant(undefined));
    fc.assert(
      fc.property(fc.constantFrom(...TYPES), fc.record({ room: field, cid: field, body: field, meta: field, on: field, seq: field, since: field, epoch: field, before: field, limit: field, cursor: field, token: field, rid: field, action: field, user: field, duration: field }), (t, fields) => {
        expectWellFormed(decodeObject({ ...fields, t }, LIMITS));
      }),
      RUNS,
    );
  });
});

describe('valid frames', () => {
  it('round-trip through decodeText and decodeObject, unknown fields ignored', () => {
    fc.assert(
      fc.property(validFrame, opt(fc.oneof(uint, fc.string({ maxLength: 64 }))), ({ frame, req }, rid) => {
        const withRid = { ...frame, ...(rid !== undefined ? { rid } : {}), extra: { ignored: true } };
        expect(decodeText(JSON.stringify(withRid), LIMITS)).toEqual({ ok: true, rid, req });
        expect(decodeObject(withRid, LIMITS)).toEqual({ ok: true, rid, req });
      }),
      RUNS,
    );
  });

  it('a transport rid (Socket.IO ack) wins over a rid field', () => {
    fc.assert(
      fc.property(validFrame, (f) => {
        expect(decodeObject({ ...f.frame, rid: 'from-payload' }, LIMITS, 0)).toEqual({ ok: true, rid: 0, req: f.req });
        expect(decodeObject({ ...f.frame, rid: { not: 'valid' } }, LIMITS, 0)).toMatchObject({ ok: true, rid: 0 });
      }),
    );
  });
});

describe('rid', () => {
  it('is valid as a safe integer or a string of at most 64 chars', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }), fc.string({ maxLength: 64 })), (rid) => {
        expect(decodeText(JSON.stringify({ t: 'ping', rid }), LIMITS)).toEqual({ ok: true, rid, req: { t: 'ping' } });
      }),
      RUNS,
    );
  });

  it.each([['a 65-char string', 'r'.repeat(65)], ['a fraction', 1.5], ['an unsafe integer', 2 ** 53], ['null', null], ['a boolean', true], ['an object', { id: 1 }], ['an array', [1]]])(
    'is refused as %s: bad_request with no rid to answer',
    (_name, rid) => {
      expect(decodeText(JSON.stringify({ t: 'ping', rid }), LIMITS)).toMatchObject({ ok: false, rid: undefined, error: { code: 'bad_request' } });
    },
  );

  it('is kept on a frame that is otherwise bad, so the refusal can be a reply', () => {
    expect(decodeText('{"t":"nope","rid":7}', LIMITS)).toMatchObject({ ok: false, rid: 7, error: { code: 'bad_request' } });
    expect(decodeText('{"t":"history","room":"r","limit":0,"rid":"x"}', LIMITS)).toMatchObject({ ok: false, rid: 'x' });
  });
});

describe('ranges are refused, not clamped', () => {
  const bounded: [string, Record<string, unknown>, string, number, number][] = [
    ['history limit', { t: 'history', room: 'r' }, 'limit', 1, 100],
    ['presence limit', { t: 'presence', room: 'r' }, 'limit', 1, 500],
    ['history before', { t: 'history', room: 'r' }, 'before', 1, Number.MAX_SAFE_INTEGER],
    ['history after', { t: 'history', room: 'r' }, 'after', 0, Number.MAX_SAFE_INTEGER],
    ['join since', { t: 'join', room: 'r' }, 'since', 0, Number.MAX_SAFE_INTEGER],
    ['read seq', { t: 'read', room: 'r' }, 'seq', 0, Number.MAX_SAFE_INTEGER],
  ];

  it.each(bounded)('%s: accepted exactly inside its range, refused outside', (_name, base, field, min, max) => {
    const n = fc.oneof(fc.integer({ min: min - 1000, max: min + 1000 }), fc.integer({ min: Math.max(min, max - 1000), max: max }), fc.constantFrom(max + 1, max + 2), fc.double({ noNaN: true }));
    fc.assert(
      fc.property(n, (v) => {
        const d = decodeObject({ ...base, [field]: v }, LIMITS);
        if (Number.isSafeInteger(v) && v >= min && v <= max) expect(d).toMatchObject({ ok: true, req: { [field]: v } });
        else expect(d).toMatchObject({ ok: false, error: { code: 'bad_request' } });
      }),
      RUNS,
    );
  });

  it.each([
    ['a string', '5'],
    ['null', null],
    ['a boolean', true],
  ])('a number field given as %s is refused', (_name, v) => {
    expect(decodeObject({ t: 'history', room: 'r', limit: v }, LIMITS)).toMatchObject({ ok: false, error: { code: 'bad_request' } });
  });

  it('history takes before or after, not both', () => {
    expect(decodeObject({ t: 'history', room: 'r', before: 5, after: 1 }, LIMITS)).toMatchObject({ ok: false, error: { code: 'bad_request', message: 'before and after are exclusive of each other' } });
    expect(decodeObject({ t: 'history', room: 'r', after: 0 }, LIMITS)).toEqual({ ok: true, rid: undefined, req: { t: 'history', room: 'r', after: 0, limit: 50 } });
  });

  it('read needs its seq', () => {
    expect(decodeObject({ t: 'read', room: 'r' }, LIMITS)).toMatchObject({ ok: false, error: { code: 'bad_request' } });
  });
});

describe('field rules', () => {
  it('room: valid exactly when it is 1-128 chars of [A-Za-z0-9_.:@-]', () => {
    fc.assert(
      fc.property(fc.oneof(room, fc.string({ maxLength: 140 }), name(140)), (r) => {
        const d = decodeObject({ t: 'leave', room: r }, LIMITS);
        expect(d.ok).toBe(ROOM_RE.test(r) && r.length <= 128);
      }),
      RUNS,
    );
  });

  it('cid: valid exactly when it is 1-64 chars of the same set', () => {
    fc.assert(
      fc.property(fc.oneof(name(70), fc.string({ maxLength: 70 })), (cid) => {
        const d = decodeObject({ t: 'send', room: 'r', cid, body: 'b' }, LIMITS);
        expect(d.ok).toBe(CID_RE.test(cid) && cid.length <= 64);
        if (!d.ok) expect(d.error.code).toBe('bad_request');
      }),
      RUNS,
    );
  });

  it('body: too_large exactly when over maxBodyBytes UTF-8 bytes (not chars)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 80 }), (b) => {
        const d = decodeObject({ t: 'send', room: 'r', cid: 'c', body: b }, LIMITS);
        if (Buffer.byteLength(b, 'utf8') <= LIMITS.maxBodyBytes) expect(d.ok).toBe(true);
        else expect(d).toMatchObject({ ok: false, error: { code: 'too_large' } });
      }),
      RUNS,
    );
    expect(decodeObject({ t: 'send', room: 'r', cid: 'c', body: 'é'.repeat(33) }, LIMITS)).toMatchObject({ ok: false, error: { code: 'too_large' } });
  });

  it('meta: a JSON object of at most maxMetaBytes serialized; too_large past it, bad_request if not an object', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 6 }), (meta) => {
        const d = decodeObject({ t: 'send', room: 'r', cid: 'c', body: '', meta }, LIMITS);
        if (Buffer.byteLength(JSON.stringify(meta), 'utf8') <= LIMITS.maxMetaBytes) expect(d.ok).toBe(true);
        else expect(d).toMatchObject({ ok: false, error: { code: 'too_large' } });
      }),
      RUNS,
    );
    for (const meta of [[1], 'text', 3, null, true]) {
      expect(decodeObject({ t: 'send', room: 'r', cid: 'c', body: '', meta }, LIMITS)).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    }
  });

  it('typing needs a boolean on; auth a non-empty token; epoch at most 64 chars', () => {
    for (const on of ['true', 1, null, undefined]) expect(decodeObject({ t: 'typing', room: 'r', on }, LIMITS).ok).toBe(false);
    for (const token of ['', undefined, 5]) expect(decodeObject({ t: 'auth', token }, LIMITS).ok).toBe(false);
    expect(decodeObject({ t: 'join', room: 'r', epoch: 'e'.repeat(65) }, LIMITS).ok).toBe(false);
    expect(decodeObject({ t: 'join', room: 'r', epoch: 'e'.repeat(64) }, LIMITS).ok).toBe(true);
  });

  it('join takes presence "each" or "delta" only; occupancy needs a valid room', () => {
    for (const presence of ['Delta', '', 'batched', 1, true, null]) {
      expect(decodeObject({ t: 'join', room: 'r', presence }, LIMITS)).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    }
    for (const room of [undefined, '', 'a b', 'r'.repeat(129)]) {
      expect(decodeObject({ t: 'occupancy', room }, LIMITS)).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    }
  });

  it('not an object, or no string t: bad_request', () => {
    for (const text of ['null', '[]', '"ping"', '42', 'true', '{}', '{"t":5}', '{"t":null}', '{"t":"PING"}', '']) {
      expect(decodeText(text, LIMITS)).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    }
  });
});

describe('moderate', () => {
  const base = { t: 'moderate', room: 'r', user: 'bob' };
  it('takes mute, unmute, ban, unban; a duration from 1 s to a year, for mute and ban only', () => {
    expect(decodeObject({ ...base, action: 'ban', duration: 60 }, LIMITS)).toEqual({ ok: true, rid: undefined, req: { ...base, action: 'ban', duration: 60 } });
    expect(decodeObject({ ...base, action: 'unmute' }, LIMITS)).toEqual({ ok: true, rid: undefined, req: { ...base, action: 'unmute' } });
    for (const bad of [
      { ...base, action: 'kick' },
      { ...base, action: 'mute', duration: 0 },
      { ...base, action: 'mute', duration: 365 * 86400 + 1 },
      { ...base, action: 'mute', duration: 1.5 },
      { ...base, action: 'unban', duration: 10 },
      { ...base, action: 'mute', user: '' },
      { ...base, action: 'mute', user: 'x'.repeat(129) },
      { t: 'moderate', room: 'r', action: 'mute' },
    ]) {
      expect(decodeObject(bad, LIMITS), JSON.stringify(bad)).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    }
  });
});
