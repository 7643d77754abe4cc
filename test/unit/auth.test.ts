import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { base64url, CompactSign, exportJWK, exportPKCS8, exportSPKI, generateKeyPair, importPKCS8, SignJWT } from 'jose';
import type { CryptoKey, JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, type AuthConfig, type JwtAlgorithm } from '../../src/config/index.js';
import { AuthError, type AuthReason } from '../../src/gateway/auth-error.js';
import { MAX_TOKEN_CHARS, mintToken, TokenVerifier } from '../../src/gateway/auth.js';
import { ParleyError } from '../../src/shared/errors.js';

const SECRET = new Uint8Array(randomBytes(32));
const OTHER_SECRET = new Uint8Array(randomBytes(32));
/** A secret as JWT_SECRET carries it (text). */
const SECRET_TEXT = new TextEncoder().encode(randomBytes(24).toString('base64'));
const ASYMMETRIC: JwtAlgorithm[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

const now = (): number => Math.floor(Date.now() / 1000);
const claims = (extra: JWTPayload = {}): JWTPayload => ({ sub: 'alice', exp: now() + 600, ...extra });

function authConfig(extra: Partial<AuthConfig> = {}): AuthConfig {
  return { secret: SECRET, algorithms: ['HS256'], clockToleranceS: 0, defaultRooms: [], ...extra };
}

function sign(key: CryptoKey | Uint8Array, alg: string, payload: JWTPayload = claims(), kid?: string): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg, ...(kid !== undefined ? { kid } : {}) }).sign(key);
}

/** A token built by hand, for headers and payloads jose refuses to produce. */
function rawToken(header: object, payload: object, signature = ''): string {
  const enc = (o: object): string => base64url.encode(JSON.stringify(o));
  return `${enc(header)}.${enc(payload)}.${signature}`;
}

/** Every rejection goes through here, so every case also checks that the token stays out of the error. */
async function rejection(verifier: TokenVerifier, token: string): Promise<AuthError> {
  const err: unknown = await verifier.verify(token).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AuthError);
  const authErr = err as AuthError;
  expect(authErr.code).toBe('unauthorized');
  const signature = token.split('.')[2] ?? '';
  for (const text of [authErr.message, String(authErr), authErr.stack ?? '', JSON.stringify(authErr)]) {
    if (token.length > 0) expect(text).not.toContain(token);
    if (signature.length >= 16) expect(text).not.toContain(signature);
  }
  return authErr;
}

async function expectReason(verifier: TokenVerifier, token: string, reason: AuthReason): Promise<void> {
  expect((await rejection(verifier, token)).reason).toBe(reason);
}

let rsa: { privateKey: CryptoKey; publicKey: CryptoKey; pem: string };
let ec: { privateKey: CryptoKey; publicKey: CryptoKey; pem: string };
let ed: { privateKey: CryptoKey; publicKey: CryptoKey; pem: string };

async function keyPair(alg: string): Promise<{ privateKey: CryptoKey; publicKey: CryptoKey; pem: string }> {
  const pair = await generateKeyPair(alg, { extractable: true });
  return { ...pair, pem: await exportSPKI(pair.publicKey) };
}

beforeAll(async () => {
  [rsa, ec, ed] = await Promise.all([keyPair('RS256'), keyPair('ES256'), keyPair('EdDSA')]);
});

describe('TokenVerifier: valid tokens', () => {
  it('accepts HS256 and returns the identity', async () => {
    const exp = now() + 600;
    const identity = await new TokenVerifier(authConfig()).verify(await sign(SECRET, 'HS256', claims({ exp, rooms: ['general', 'team-*'] })));
    expect(identity.user).toBe('alice');
    expect(identity.exp).toBe(exp);
    expect(identity.rooms.allows('general')).toBe(true);
    expect(identity.rooms.allows('team-red')).toBe(true);
    expect(identity.rooms.allows('random')).toBe(false);
  });

  it('accepts HS384 and HS512 with the default allowlist of a configured secret', async () => {
    const auth = loadConfig({ JWT_SECRET: new TextDecoder().decode(SECRET_TEXT) }).config.auth;
    for (const alg of ['HS256', 'HS384', 'HS512']) {
      expect((await new TokenVerifier(auth).verify(await sign(SECRET_TEXT, alg))).user).toBe('alice');
    }
  });

  it('applies defaultRooms when the token has no rooms claim', async () => {
    const verifier = new TokenVerifier(authConfig({ defaultRooms: ['lobby'] }));
    const identity = await verifier.verify(await sign(SECRET, 'HS256'));
    expect(identity.rooms.allows('lobby')).toBe(true);
    expect(identity.rooms.allows('general')).toBe(false);
    const none = await new TokenVerifier(authConfig()).verify(await sign(SECRET, 'HS256'));
    expect(none.rooms.allows('lobby')).toBe(false);
  });

  it('an empty rooms claim allows nothing, even with defaultRooms', async () => {
    const verifier = new TokenVerifier(authConfig({ defaultRooms: ['*'] }));
    const identity = await verifier.verify(await sign(SECRET, 'HS256', claims({ rooms: [] })));
    expect(identity.rooms.allows('general')).toBe(false);
  });

  it.each([['RS256'], ['PS256'], ['RS512']])('accepts %s with an RSA PEM public key', async (alg) => {
    const verifier = new TokenVerifier({ algorithms: ASYMMETRIC, publicKeyPem: rsa.pem, clockToleranceS: 0, defaultRooms: [] });
    // WebCrypto binds a key to one algorithm: re-import the same RSA private key for `alg`.
    const privateKey = await importPKCS8(await exportPKCS8(rsa.privateKey), alg);
    expect((await verifier.verify(await sign(privateKey, alg))).user).toBe('alice');
  });

  it('accepts ES256 with an EC PEM public key', async () => {
    const verifier = new TokenVerifier({ algorithms: ASYMMETRIC, publicKeyPem: ec.pem, clockToleranceS: 0, defaultRooms: [] });
    expect((await verifier.verify(await sign(ec.privateKey, 'ES256'))).user).toBe('alice');
  });

  it('accepts ES384 with a P-384 PEM key, and refuses ES384 against a P-256 key', async () => {
    const p384 = await keyPair('ES384');
    const verifier = new TokenVerifier({ algorithms: ASYMMETRIC, publicKeyPem: p384.pem, clockToleranceS: 0, defaultRooms: [] });
    const token = await sign(p384.privateKey, 'ES384');
    expect((await verifier.verify(token)).user).toBe('alice');
    const p256 = new TokenVerifier({ algorithms: ASYMMETRIC, publicKeyPem: ec.pem, clockToleranceS: 0, defaultRooms: [] });
    await expectReason(p256, token, 'wrong_key_type');
  });

  it('accepts EdDSA with an Ed25519 PEM public key', async () => {
    const verifier = new TokenVerifier({ algorithms: ASYMMETRIC, publicKeyPem: ed.pem, clockToleranceS: 0, defaultRooms: [] });
    expect((await verifier.verify(await sign(ed.privateKey, 'EdDSA'))).user).toBe('alice');
  });

  it('accepts both families when a secret and a PEM key are configured', async () => {
    const verifier = new TokenVerifier(authConfig({ algorithms: ['HS256', 'RS256'], publicKeyPem: rsa.pem }));
    expect((await verifier.verify(await sign(SECRET, 'HS256'))).user).toBe('alice');
    expect((await verifier.verify(await sign(rsa.privateKey, 'RS256'))).user).toBe('alice');
  });

  it('accepts a token expired less than clockToleranceS ago, and nbf within it', async () => {
    const verifier = new TokenVerifier(authConfig({ clockToleranceS: 30 }));
    expect((await verifier.verify(await sign(SECRET, 'HS256', claims({ exp: now() - 10 })))).user).toBe('alice');
    expect((await verifier.verify(await sign(SECRET, 'HS256', claims({ nbf: now() + 10 })))).user).toBe('alice');
  });

  it('accepts matching iss and aud', async () => {
    const verifier = new TokenVerifier(authConfig({ issuer: 'https://idp', audience: 'parley' }));
    const identity = await verifier.verify(await sign(SECRET, 'HS256', claims({ iss: 'https://idp', aud: ['other', 'parley'] })));
    expect(identity.user).toBe('alice');
  });

  it('accepts a token of exactly MAX_TOKEN_CHARS', async () => {
    const base = await sign(SECRET, 'HS256', claims({ pad: '' }));
    // base64url spends 4 chars per 3 bytes: start just below the limit, then grow one byte at a time.
    let pad = 'x'.repeat(Math.floor(((MAX_TOKEN_CHARS - base.length) * 3) / 4) - 4);
    let token = await sign(SECRET, 'HS256', claims({ pad }));
    while (token.length < MAX_TOKEN_CHARS) {
      const next = await sign(SECRET, 'HS256', claims({ pad: pad + 'x' }));
      if (next.length > MAX_TOKEN_CHARS) break;
      pad += 'x';
      token = next;
    }
    expect(token.length).toBeLessThanOrEqual(MAX_TOKEN_CHARS);
    expect(token.length).toBeGreaterThan(MAX_TOKEN_CHARS - 4);
    expect((await new TokenVerifier(authConfig()).verify(token)).user).toBe('alice');
  });
});

describe('TokenVerifier: JWKS', () => {
  let server: Server;
  let url: string;
  let status = 200;
  let requests = 0;

  beforeAll(async () => {
    const keys = [
      { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
      { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' },
    ];
    server = createServer((_req, res) => {
      requests += 1;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(status === 200 ? JSON.stringify({ keys }) : '{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
  });

  const jwksConfig = (): AuthConfig => ({ algorithms: ASYMMETRIC, jwksUrl: url, clockToleranceS: 0, defaultRooms: [] });

  it('accepts RS256 and ES256 tokens whose kid is in the set, fetching it once', async () => {
    requests = 0;
    const verifier = new TokenVerifier(jwksConfig());
    expect((await verifier.verify(await sign(rsa.privateKey, 'RS256', claims(), 'rsa-1'))).user).toBe('alice');
    expect((await verifier.verify(await sign(ec.privateKey, 'ES256', claims({ sub: 'bob' }), 'ec-1'))).user).toBe('bob');
    expect(requests).toBe(1);
  });

  it('rejects a kid the set does not hold, and a signature by another key', async () => {
    const verifier = new TokenVerifier(jwksConfig());
    await expectReason(verifier, await sign(rsa.privateKey, 'RS256', claims(), 'unknown'), 'unknown_key');
    const stranger = await keyPair('RS256');
    await expectReason(verifier, await sign(stranger.privateKey, 'RS256', claims(), 'rsa-1'), 'bad_signature');
  });

  it('maps an unusable JWKS endpoint to key_unavailable', async () => {
    status = 500;
    try {
      await expectReason(new TokenVerifier(jwksConfig()), await sign(rsa.privateKey, 'RS256', claims(), 'rsa-1'), 'key_unavailable');
    } finally {
      status = 200;
    }
  });

  it('maps an unreachable JWKS endpoint to key_unavailable', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const verifier = new TokenVerifier({ ...jwksConfig(), jwksUrl: `http://127.0.0.1:${port}/jwks.json` });
    const err = await rejection(verifier, await sign(rsa.privateKey, 'RS256', claims(), 'rsa-1'));
    expect(err.reason).toBe('key_unavailable');
    expect(err.cause).toBeDefined();
  });
});

describe('TokenVerifier: rejected tokens', () => {
  it('rejects alg none', async () => {
    const token = rawToken({ alg: 'none', typ: 'JWT' }, claims());
    await expectReason(new TokenVerifier(authConfig()), token, 'alg_not_allowed');
    await expectReason(new TokenVerifier(authConfig({ algorithms: ['HS256', 'RS256'], publicKeyPem: rsa.pem })), token, 'alg_not_allowed');
    await expectReason(new TokenVerifier(authConfig()), rawToken({ alg: 'None' }, claims()), 'alg_not_allowed');
  });

  it('rejects HS256 signed with the RSA PEM as secret when a secret is also configured', async () => {
    const verifier = new TokenVerifier(authConfig({ algorithms: ['HS256', 'RS256'], publicKeyPem: rsa.pem }));
    await expectReason(verifier, await sign(new TextEncoder().encode(rsa.pem), 'HS256'), 'bad_signature');
  });

  it('rejects HS256 signed with the RSA PEM as secret when only the PEM key is configured', async () => {
    const token = await sign(new TextEncoder().encode(rsa.pem), 'HS256');
    const pemOnly = new TokenVerifier({ algorithms: ASYMMETRIC, publicKeyPem: rsa.pem, clockToleranceS: 0, defaultRooms: [] });
    await expectReason(pemOnly, token, 'alg_not_allowed');
    // Even an allowlist that names HS256 finds no HMAC key to use.
    const misconfigured = new TokenVerifier({ algorithms: ['HS256', 'RS256'], publicKeyPem: rsa.pem, clockToleranceS: 0, defaultRooms: [] });
    await expectReason(misconfigured, token, 'wrong_key_type');
  });

  it('rejects an allowed algorithm the PEM key cannot verify', async () => {
    const verifier = new TokenVerifier({ algorithms: ASYMMETRIC, publicKeyPem: rsa.pem, clockToleranceS: 0, defaultRooms: [] });
    await expectReason(verifier, await sign(ec.privateKey, 'ES256'), 'wrong_key_type');
    await expectReason(verifier, await sign(ed.privateKey, 'EdDSA'), 'wrong_key_type');
  });

  it('rejects a bad signature', async () => {
    const verifier = new TokenVerifier(authConfig());
    await expectReason(verifier, await sign(OTHER_SECRET, 'HS256'), 'bad_signature');
    const [header, , signature] = (await sign(SECRET, 'HS256')).split('.');
    const forged = `${header}.${base64url.encode(JSON.stringify(claims({ sub: 'mallory' })))}.${signature}`;
    await expectReason(verifier, forged, 'bad_signature');
    await expectReason(verifier, rawToken({ alg: 'HS256' }, claims()), 'bad_signature');
    const rsaVerifier = new TokenVerifier({ algorithms: ['RS256'], publicKeyPem: rsa.pem, clockToleranceS: 0, defaultRooms: [] });
    await expectReason(rsaVerifier, await sign((await keyPair('RS256')).privateKey, 'RS256'), 'bad_signature');
  });

  it('rejects an expired token', async () => {
    await expectReason(new TokenVerifier(authConfig()), await sign(SECRET, 'HS256', claims({ exp: now() - 10 })), 'expired');
    await expectReason(new TokenVerifier(authConfig({ clockToleranceS: 5 })), await sign(SECRET, 'HS256', claims({ exp: now() - 60 })), 'expired');
  });

  it('rejects a token not yet valid (nbf in the future)', async () => {
    await expectReason(new TokenVerifier(authConfig()), await sign(SECRET, 'HS256', claims({ nbf: now() + 60 })), 'not_yet_valid');
  });

  it('rejects a wrong or missing iss', async () => {
    const verifier = new TokenVerifier(authConfig({ issuer: 'https://idp' }));
    await expectReason(verifier, await sign(SECRET, 'HS256', claims({ iss: 'https://evil' })), 'wrong_issuer');
    await expectReason(verifier, await sign(SECRET, 'HS256'), 'missing_claim');
  });

  it('rejects a wrong aud', async () => {
    const verifier = new TokenVerifier(authConfig({ audience: 'parley' }));
    await expectReason(verifier, await sign(SECRET, 'HS256', claims({ aud: 'other' })), 'wrong_audience');
    await expectReason(verifier, await sign(SECRET, 'HS256', claims({ aud: ['a', 'b'] })), 'wrong_audience');
  });

  it('rejects a missing exp or sub', async () => {
    const verifier = new TokenVerifier(authConfig());
    const noExp = await rejection(verifier, await sign(SECRET, 'HS256', { sub: 'alice' }));
    expect([noExp.reason, noExp.message]).toEqual(['missing_claim', 'token lacks a required claim: exp']);
    const noSub = await rejection(verifier, await sign(SECRET, 'HS256', { exp: now() + 600 }));
    expect([noSub.reason, noSub.message]).toEqual(['missing_claim', 'token lacks a required claim: sub']);
  });

  it('rejects a non-numeric exp', async () => {
    await expectReason(new TokenVerifier(authConfig()), await sign(SECRET, 'HS256', claims({ exp: 'soon' as unknown as number })), 'bad_claim');
  });

  it('rejects a sub that is too long, empty or not a string', async () => {
    const verifier = new TokenVerifier(authConfig());
    expect((await verifier.verify(await sign(SECRET, 'HS256', claims({ sub: 'u'.repeat(128) })))).user).toHaveLength(128);
    await expectReason(verifier, await sign(SECRET, 'HS256', claims({ sub: 'u'.repeat(129) })), 'bad_claim');
    await expectReason(verifier, await sign(SECRET, 'HS256', claims({ sub: '' })), 'bad_claim');
    await expectReason(verifier, await sign(SECRET, 'HS256', claims({ sub: 42 as unknown as string })), 'bad_claim');
  });

  it.each([
    ['a string', 'general'],
    ['an object', { general: true }],
    ['a number item', ['general', 7]],
    ['an empty item', ['']],
    ['a 130-char item', ['r'.repeat(130)]],
  ])('rejects a rooms claim that is %s', async (_label, rooms) => {
    await expectReason(new TokenVerifier(authConfig({ defaultRooms: ['*'] })), await sign(SECRET, 'HS256', claims({ rooms })), 'bad_claim');
  });

  it('rejects an algorithm outside the allowlist', async () => {
    await expectReason(new TokenVerifier(authConfig()), await sign(SECRET, 'HS512'), 'alg_not_allowed');
    await expectReason(new TokenVerifier(authConfig()), await sign(rsa.privateKey, 'RS256'), 'alg_not_allowed');
    const rsOnly = new TokenVerifier({ algorithms: ['RS256'], publicKeyPem: rsa.pem, clockToleranceS: 0, defaultRooms: [] });
    const psKey = await importPKCS8(await exportPKCS8(rsa.privateKey), 'PS256');
    await expectReason(rsOnly, await sign(psKey, 'PS256'), 'alg_not_allowed');
  });

  it('rejects a token over MAX_TOKEN_CHARS before decoding it', async () => {
    const token = await sign(SECRET, 'HS256', claims({ pad: 'x'.repeat(MAX_TOKEN_CHARS) }));
    expect(token.length).toBeGreaterThan(MAX_TOKEN_CHARS);
    await expectReason(new TokenVerifier(authConfig()), token, 'too_long');
    await expectReason(new TokenVerifier(authConfig()), 'x'.repeat(MAX_TOKEN_CHARS + 1), 'too_long');
  });

  it('rejects empty and malformed tokens', async () => {
    const verifier = new TokenVerifier(authConfig());
    await expectReason(verifier, '', 'no_token');
    for (const token of ['abc', 'a.b.c', 'Bearer x.y.z', rawToken({ typ: 'JWT' }, claims())]) {
      await expectReason(verifier, token, 'malformed');
    }
    // Correctly signed, but the payload is not a JSON object.
    const notJson = await new CompactSign(new TextEncoder().encode('not json')).setProtectedHeader({ alg: 'HS256' }).sign(SECRET);
    await expectReason(verifier, notJson, 'malformed');
    const array = await new CompactSign(new TextEncoder().encode('[1]')).setProtectedHeader({ alg: 'HS256' }).sign(SECRET);
    await expectReason(verifier, array, 'malformed');
  });

  it('never puts the token in AuthError messages', async () => {
    const verifier = new TokenVerifier(authConfig({ issuer: 'https://idp' }));
    const tokens = [
      await sign(SECRET, 'HS256', claims({ iss: 'https://idp', exp: now() - 100 })),
      await sign(OTHER_SECRET, 'HS256', claims({ iss: 'https://idp' })),
      await sign(SECRET, 'HS256', claims({ iss: 'https://idp', rooms: 'oops' })),
      await sign(SECRET, 'HS256', claims({ iss: 'https://idp', sub: 's'.repeat(200) })),
      await sign(SECRET, 'HS384', claims({ iss: 'https://idp' })),
      rawToken({ alg: 'none' }, claims({ iss: 'https://idp' })),
      'not.a.token-but-long-enough-to-notice',
    ];
    for (const token of tokens) {
      const err = await rejection(verifier, token);
      expect(err.message).not.toContain(token);
      expect(err.message).not.toContain('alice');
    }
  });
});

describe('TokenVerifier: configuration', () => {
  it('refuses an unreadable PEM or a private key at construction', async () => {
    expect(() => new TokenVerifier({ algorithms: ['RS256'], publicKeyPem: '-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----', clockToleranceS: 0, defaultRooms: [] })).toThrow(ConfigError);
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const pkcs8 = await exportPKCS8(privateKey);
    expect(() => new TokenVerifier({ algorithms: ['RS256'], publicKeyPem: pkcs8, clockToleranceS: 0, defaultRooms: [] })).toThrow(ConfigError);
  });
});

describe('mintToken', () => {
  it('mints an HS256 token the verifier accepts, with rooms, issuer and audience', async () => {
    const { token, exp } = await mintToken(SECRET, { user: 'carol', rooms: ['dm:carol*'], ttlS: 300, issuer: 'parley-dev', audience: 'parley' });
    expect(exp).toBeGreaterThanOrEqual(now() + 299);
    expect(exp).toBeLessThanOrEqual(now() + 300);
    const identity = await new TokenVerifier(authConfig({ issuer: 'parley-dev', audience: 'parley' })).verify(token);
    expect(identity).toMatchObject({ user: 'carol', exp });
    expect(identity.rooms.allows('dm:carol:dave')).toBe(true);
    expect(identity.rooms.allows('general')).toBe(false);
    expect(JSON.parse(new TextDecoder().decode(base64url.decode(token.split('.')[0] ?? '')))).toMatchObject({ alg: 'HS256' });
  });

  it('omits the rooms claim when no rooms are given', async () => {
    const { token } = await mintToken(SECRET, { user: 'carol', ttlS: 60 });
    const identity = await new TokenVerifier(authConfig({ defaultRooms: ['lobby'] })).verify(token);
    expect(identity.rooms.allows('lobby')).toBe(true);
    expect(identity.rooms.allows('general')).toBe(false);
  });

  it.each([
    ['an empty user', { user: '', ttlS: 60 }],
    ['a 129-char user', { user: 'u'.repeat(129), ttlS: 60 }],
    ['a zero ttl', { user: 'carol', ttlS: 0 }],
    ['a fractional ttl', { user: 'carol', ttlS: 1.5 }],
    ['an empty room pattern', { user: 'carol', ttlS: 60, rooms: [''] }],
  ])('refuses %s with bad_request', async (_label, opts) => {
    const err: unknown = await mintToken(SECRET, opts).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ParleyError);
    expect((err as ParleyError).code).toBe('bad_request');
  });
});
