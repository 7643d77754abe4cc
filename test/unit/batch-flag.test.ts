import { describe, expect, it } from 'vitest';
import { parseBatchFlag } from '../../src/gateway/native-endpoint.js';

describe('parseBatchFlag (/ws?batch=)', () => {
  it('opts in with 1 only; absent, empty and 0 are the default; anything else is refused', () => {
    expect(parseBatchFlag('1')).toBe(true);
    for (const off of [undefined, '', '0']) expect(parseBatchFlag(off)).toBe(false);
    for (const bad of ['true', 'yes', '2', '01', ' 1', 'on']) expect(parseBatchFlag(bad)).toBeUndefined();
  });
});
