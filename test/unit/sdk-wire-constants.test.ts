import { describe, expect, it } from 'vitest';
import { CloseCode as SdkCloseCode, ERROR_CODES as SDK_ERROR_CODES } from '../../packages/client/src/types.js';
import { CloseCode } from '../../src/shared/close-codes.js';
import { ERROR_CODES } from '../../src/shared/errors.js';

// The SDK imports nothing from the server (it is a package of its own), so it keeps its own
// copy of the protocol's codes: they must stay the server's, code for code.
describe('the SDK and the server name the same wire codes', () => {
  it('error codes', () => {
    expect([...SDK_ERROR_CODES].sort()).toEqual([...ERROR_CODES].sort());
  });

  it('close codes', () => {
    expect(SdkCloseCode).toEqual(CloseCode);
  });
});
