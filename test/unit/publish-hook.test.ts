import { describe, expect, it } from 'vitest';
import { clientAddress } from '../../src/gateway/address-limits.js';
import { CircuitBreaker, type BreakerState } from '../../src/hooks/circuit-breaker.js';
import { MalformedVerdict, parseVerdict, requestBody } from '../../src/hooks/verdict.js';
import type { PublishCheck } from '../../src/rooms/ports.js';

/** src/hooks: the circuit breaker's states and the hook's answers (docs/hooks.md); the client address behind proxies. */

describe('CircuitBreaker', () => {
  const make = () => {
    let now = 0;
    const changes: BreakerState[] = [];
    const breaker = new CircuitBreaker(3, 1_000, (s) => changes.push(s), () => now);
    return { breaker, changes, at: (ms: number) => (now = ms) };
  };

  it('opens after N failures in a row; a success in between starts the count again', () => {
    const { breaker, changes } = make();
    breaker.failure();
    breaker.failure();
    breaker.success();
    breaker.failure();
    breaker.failure();
    expect(breaker.state).toBe('closed');
    expect(breaker.allow()).toBe(true);
    breaker.failure();
    expect(breaker.state).toBe('open');
    expect(breaker.allow()).toBe(false);
    expect(changes).toEqual(['open']);
  });

  it('after the cool-down lets one trial through: its success closes, its failure opens for another cool-down', () => {
    const { breaker, changes, at } = make();
    for (let i = 0; i < 3; i++) breaker.failure();
    at(999);
    expect(breaker.allow()).toBe(false);
    at(1_000);
    expect(breaker.allow()).toBe(true);
    expect(breaker.state).toBe('half_open');
    expect(breaker.allow()).toBe(false);
    breaker.failure();
    expect(breaker.state).toBe('open');
    at(1_999);
    expect(breaker.allow()).toBe(false);
    at(2_000);
    expect(breaker.allow()).toBe(true);
    breaker.success();
    expect(breaker.state).toBe('closed');
    expect(breaker.allow()).toBe(true);
    expect(changes).toEqual(['open', 'half_open', 'open', 'half_open', 'closed']);
  });
});

describe('the hook contract', () => {
  const message: PublishCheck = { op: 'send', room: 'r', from: 'ann', cid: 'c1', body: 'hello', meta: { a: 1 } };
  const limits = { maxBodyBytes: 16, maxMetaBytes: 24 };

  it('posts the fields of the message that are set', () => {
    expect(JSON.parse(requestBody(message))).toEqual(message);
    expect(JSON.parse(requestBody({ op: 'edit', room: 'r', from: 'ann', cid: 'c2', body: 'x', target: 7 }))).toEqual({ op: 'edit', room: 'r', from: 'ann', cid: 'c2', body: 'x', target: 7 });
  });

  it('reads accept, reject and modify; modify keeps what it leaves out and removes meta on null', () => {
    expect(parseVerdict({ action: 'accept', extra: 1 }, message, limits)).toEqual({ action: 'accept' });
    expect(parseVerdict({ action: 'reject', code: 'spam', message: 'no' }, message, limits)).toEqual({ action: 'reject', code: 'spam', message: 'no' });
    expect(parseVerdict({ action: 'reject' }, message, limits)).toEqual({ action: 'reject', code: 'rejected', message: 'the message was rejected' });
    expect(parseVerdict({ action: 'modify', body: 'hi' }, message, limits)).toEqual({ action: 'modify', body: 'hi', meta: { a: 1 } });
    expect(parseVerdict({ action: 'modify', meta: { b: 2 } }, message, limits)).toEqual({ action: 'modify', body: 'hello', meta: { b: 2 } });
    expect(parseVerdict({ action: 'modify', meta: null }, message, limits)).toEqual({ action: 'modify', body: 'hello', meta: undefined });
  });

  it('refuses anything else as malformed', () => {
    for (const bad of [
      null,
      [],
      'accept',
      {},
      { action: 'ok' },
      { action: 'modify' },
      { action: 'modify', body: 5 },
      { action: 'modify', body: 'x'.repeat(17) },
      { action: 'modify', meta: [] },
      { action: 'modify', meta: { long: 'x'.repeat(20) } },
      { action: 'reject', code: '' },
      { action: 'reject', code: 'has space' },
      { action: 'reject', message: 'x'.repeat(513) },
    ]) {
      expect(() => parseVerdict(bad, message, limits), JSON.stringify(bad)).toThrow(MalformedVerdict);
    }
  });
});

describe('clientAddress', () => {
  it('is the socket address unless proxies are trusted', () => {
    expect(clientAddress('10.0.0.9', '1.1.1.1, 2.2.2.2', 0)).toBe('10.0.0.9');
    expect(clientAddress('10.0.0.9', undefined, 1)).toBe('10.0.0.9');
    expect(clientAddress('10.0.0.9', ' , ', 1)).toBe('10.0.0.9');
  });

  it('behind N proxies, is the Nth entry of X-Forwarded-For from the right: what the client wrote left of it is not believed', () => {
    expect(clientAddress('10.0.0.9', 'spoofed, 203.0.113.5', 1)).toBe('203.0.113.5');
    expect(clientAddress('10.0.0.9', 'spoofed, 203.0.113.5, 10.0.0.2', 2)).toBe('203.0.113.5');
    expect(clientAddress('10.0.0.9', '203.0.113.5', 3)).toBe('203.0.113.5');
  });
});
