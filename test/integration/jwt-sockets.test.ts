import { randomBytes } from 'node:crypto';
import { base64url, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import type { CryptoKey, JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS, TestClient, type ConnectOptions, type Kind } from '../helpers/clients.js';
import { startNode, TEST_SECRET, type TestNode } from '../helpers/node.js';

/**
 * docs/protocol.md, "Connecting" and "Token claims", through real sockets: every bad token is refused before a
 * WebSocket opens (HTTP 401 on /ws, connect_error "unauthorized" on Socket.IO).
 */

const ISSUER = 'https://issuer.parley.test';
const AUDIENCE = 'parley-sockets';
const SECRET = new TextEncoder().encode(TEST_SECRET);

let node: TestNode;
let rsaPrivate: CryptoKey;
let pem: string;

beforeAll(async () => {
  const pair = await generateKeyPair('RS256');
  rsaPrivate = pair.privateKey;
  pem = await exportSPKI(pair.publicKey);
  node = await startNode({ JWT_PUBLIC_KEY: pem, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE });
});
afterAll(async () => {
  await node.close();
});

const now = (): number => Math.floor(Date.now() / 1000);

/** Claims the node accepts; `undefined` values drop a claim. */
function claims(extra: Record<string, unknown> = {}): JWTPayload {
  const all: Record<string, unknown> = { sub: 'jwt-user', iss: ISSUER, aud: AUDIENCE, exp: now() + 600, rooms: ['*'], ...extra };
  return Object.fromEntries(Object.entries(all).filter(([, v]) => v !== undefined));
}

function sign(payload: JWTPayload, key: CryptoKey | Uint8Array = SECRET, alg = 'HS256'): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg, typ: 'JWT' }).sign(key);
}

/** A token jose refuses to produce: alg none, empty signature. */
function unsigned(payload: JWTPayload): string {
  const enc = (o: object): string => base64url.encode(JSON.stringify(o));
  return `${enc({ alg: 'none', typ: 'JWT' })}.${enc(payload)}.`;
}

/** Both ways a /ws client can present its token, and Socket.IO's auth. */
const WAYS: [string, Kind, ConnectOptions][] = [
  ['ws ?token=', 'ws', {}],
  ['ws Authorization header', 'ws', { header: true }],
  ['sio auth', 'sio', {}],
];

describe.each(WAYS)('%s: accepted tokens', (_way, kind, opts) => {
  it('accepts a valid HS256 token with the configured iss and aud', async () => {
    const c = await TestClient.connect(kind, node, await sign(claims({ sub: `hs-${kind}` })), opts);
    expect(c.hello).toMatchObject({ user: `hs-${kind}` });
    c.close();
  });

  it('accepts a valid RS256 token verified with JWT_PUBLIC_KEY', async () => {
    const c = await TestClient.connect(kind, node, await sign(claims({ sub: `rs-${kind}` }), rsaPrivate, 'RS256'), opts);
    expect(c.hello).toMatchObject({ user: `rs-${kind}` });
    c.close();
  });
});

const BAD_TOKENS: [string, () => Promise<string | undefined>][] = [
  ['missing token', () => Promise.resolve(undefined)],
  ['garbage', () => Promise.resolve('not.a.jwt')],
  ['alg none', () => Promise.resolve(unsigned(claims()))],
  ['HS256 signed with the RSA public key PEM as secret', () => sign(claims(), new TextEncoder().encode(pem))],
  ['bad signature (another secret)', () => sign(claims(), new Uint8Array(randomBytes(32)))],
  ['bad signature (payload changed after signing)', async () => {
    const [h, , s] = (await sign(claims())).split('.');
    return `${h}.${base64url.encode(JSON.stringify(claims({ sub: 'someone-else' })))}.${s}`;
  }],
  ['expired', () => sign(claims({ exp: now() - 60 }))],
  ['not yet valid (nbf)', () => sign(claims({ nbf: now() + 600 }))],
  ['wrong iss', () => sign(claims({ iss: 'https://evil.test' }))],
  ['missing iss', () => sign(claims({ iss: undefined }))],
  ['wrong aud', () => sign(claims({ aud: 'another-service' }))],
  ['missing exp', () => sign(claims({ exp: undefined }))],
  ['missing sub', () => sign(claims({ sub: undefined }))],
  ['empty sub', () => sign(claims({ sub: '' }))],
  ['RS256 signed by another key', async () => sign(claims(), (await generateKeyPair('RS256')).privateKey, 'RS256')],
];

describe.each(WAYS)('%s: refused tokens', (_way, kind, opts) => {
  it.each(BAD_TOKENS)('refuses %s before any socket opens', async (_name, make) => {
    const before = await connections(kind);
    const result = await TestClient.attempt(kind, node, await make(), opts);
    if (result instanceof TestClient) {
      result.close();
      throw new Error('the token was accepted');
    }
    expect(result).toEqual(kind === 'ws' ? { status: 401 } : { message: 'unauthorized' });
    // Never more sessions than before (earlier tests' closes may still be settling).
    expect(await connections(kind)).toBeLessThanOrEqual(before);
  });
});

/** parley_connections of one transport: no session was opened for a refused token. */
async function connections(kind: Kind): Promise<number> {
  const text = await (await fetch(`${node.httpUrl}/metrics`)).text();
  const m = new RegExp(`^parley_connections\\{transport="${kind}"\\} (\\d+)$`, 'm').exec(text);
  return Number(m?.[1] ?? 0);
}

describe.each(KINDS)('%s: the rooms claim', (kind) => {
  it('refuses a join outside the rooms claim with forbidden, and allows the rooms inside it', async () => {
    const token = await sign(claims({ sub: `acl-${kind}`, rooms: [`team-${kind}-*`, `exact-${kind}`] }));
    const c = await TestClient.connect(kind, node, token);
    for (const room of [`other-${kind}`, `team-${kind}`, `exact-${kind}-2`]) {
      expect(await c.request('join', { room })).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    }
    await c.join(`team-${kind}-a`);
    await c.join(`exact-${kind}`);
    c.close();
  });

  it('without a rooms claim and no AUTH_DEFAULT_ROOMS outside dev mode, every join is forbidden', async () => {
    const c = await TestClient.connect(kind, node, await sign(claims({ sub: `noclaim-${kind}`, rooms: undefined })));
    expect(await c.request('join', { room: `any-${kind}` })).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    c.close();
  });
});
