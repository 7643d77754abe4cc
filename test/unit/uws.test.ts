import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import uWS from 'uWebSockets.js';
import { describe, expect, it } from 'vitest';
import { assertNativeUws, loadUws, NativeUwsMissingError, type UwsModule } from '../../src/gateway/uws.js';

/** uWebSockets.js falls back to a slow JavaScript implementation when its binary does not load; Parley refuses it. */

const require = createRequire(import.meta.url);

function refusal(mod: UwsModule): NativeUwsMissingError {
  try {
    assertNativeUws(mod);
  } catch (err) {
    expect(err).toBeInstanceOf(NativeUwsMissingError);
    return err as NativeUwsMissingError;
  }
  throw new Error('accepted');
}

describe('assertNativeUws', () => {
  it('accepts the native module, and loadUws returns it', () => {
    expect(() => assertNativeUws(uWS)).not.toThrow();
    expect(loadUws()).toBe(uWS);
  });

  it('refuses the JavaScript fallback with a message that says it refuses to start', () => {
    const fallback = require('uWebSockets.js/dist/index.js') as UwsModule;
    const err = refusal(fallback);
    expect(err.name).toBe('NativeUwsMissingError');
    expect(err.message).toMatch(/refuses to start/);
    expect(err.message).toContain(process.version);
    expect(err.message).toContain('UWS_USE_FALLBACK');
  });

  it('refuses look-alikes: a JavaScript App with getParts, or a native App without it', () => {
    refusal({ App: () => ({}), getParts: () => [] });
    refusal({ App: uWS.App });
  });
});

describe('the CLI on the fallback', () => {
  it('exits 1 and says why when UWS_USE_FALLBACK makes uWebSockets.js load its JavaScript implementation', { timeout: 30_000 }, async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts'], {
      cwd: fileURLToPath(new URL('../../', import.meta.url)),
      env: { PATH: process.env['PATH'] ?? '', NODE_ENV: 'test', JWT_SECRET: 's'.repeat(32), PORT: '0', LOG_LEVEL: 'silent', UWS_USE_FALLBACK: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toMatch(/refuses to start/);
  });
});
