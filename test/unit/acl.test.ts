import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseRoomsClaim, RoomAcl } from '../../src/gateway/acl.js';
import { AuthError } from '../../src/gateway/auth-error.js';

describe('RoomAcl', () => {
  it('allows exact names only', () => {
    const acl = new RoomAcl(['general', 'random']);
    expect(acl.allows('general')).toBe(true);
    expect(acl.allows('random')).toBe(true);
    expect(acl.allows('general2')).toBe(false);
    expect(acl.allows('gen')).toBe(false);
    expect(acl.allows('')).toBe(false);
  });

  it('allows every room starting with a prefix pattern', () => {
    const acl = new RoomAcl(['team-*', 'dm:alice*', 'lobby']);
    expect(acl.allows('team-')).toBe(true);
    expect(acl.allows('team-red')).toBe(true);
    expect(acl.allows('dm:alice:bob')).toBe(true);
    expect(acl.allows('lobby')).toBe(true);
    expect(acl.allows('team')).toBe(false);
    expect(acl.allows('dm:bob')).toBe(false);
    expect(acl.allows('lobby2')).toBe(false);
  });

  it('keeps overlapping prefixes equivalent', () => {
    const acl = new RoomAcl(['a-b*', 'a-*', 'a-*', 'x*']);
    expect(acl.allows('a-b-c')).toBe(true);
    expect(acl.allows('a-z')).toBe(true);
    expect(acl.allows('xyz')).toBe(true);
    expect(acl.allows('b')).toBe(false);
  });

  it('"*" allows every room', () => {
    const acl = new RoomAcl(['*']);
    for (const room of ['general', 'a', 'team-red', 'x'.repeat(128)]) expect(acl.allows(room)).toBe(true);
    expect(new RoomAcl(['nope', '*']).allows('anything')).toBe(true);
  });

  it('an empty list denies every room', () => {
    const acl = new RoomAcl([]);
    for (const room of ['general', '*', 'a', '']) expect(acl.allows(room)).toBe(false);
  });

  it('keeps the patterns it was built from', () => {
    expect(new RoomAcl(['a', 'b*']).patterns).toEqual(['a', 'b*']);
  });

  it('property: "p*" allows exactly the rooms starting with p', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), fc.string({ maxLength: 20 }), fc.boolean(), (p, s, extend) => {
        const room = extend ? p + s : s;
        expect(new RoomAcl([`${p}*`]).allows(room)).toBe(room.startsWith(p));
      }),
      { numRuns: 500 },
    );
  });

  it('property: an exact pattern allows only that room', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !s.endsWith('*')), fc.string({ maxLength: 20 }), (name, room) => {
        expect(new RoomAcl([name]).allows(room)).toBe(room === name);
        expect(new RoomAcl([name]).allows(name)).toBe(true);
      }),
    );
  });
});

describe('parseRoomsClaim', () => {
  it('returns undefined for an absent claim', () => {
    expect(parseRoomsClaim(undefined)).toBeUndefined();
  });

  it('accepts arrays of 1-129 char strings, and returns a copy', () => {
    const claim = ['general', 'team-*', '*', 'x'.repeat(128) + '*'];
    const parsed = parseRoomsClaim(claim);
    expect(parsed).toEqual(claim);
    expect(parsed).not.toBe(claim);
    expect(parseRoomsClaim([])).toEqual([]);
  });

  it.each([
    ['a string', 'general'],
    ['null', null],
    ['a number', 3],
    ['an object', { general: true }],
    ['an empty string item', ['ok', '']],
    ['a 130-char item', ['x'.repeat(130)]],
    ['a non-string item', ['ok', 1]],
    ['a nested array', [['general']]],
  ])('rejects %s with AuthError bad_claim', (_label, value) => {
    let caught: unknown;
    try {
      parseRoomsClaim(value);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(AuthError);
    expect((caught as AuthError).reason).toBe('bad_claim');
    expect((caught as AuthError).code).toBe('unauthorized');
  });
});
