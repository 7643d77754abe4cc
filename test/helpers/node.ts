import { loadConfig, type Config } from '../../src/config/index.js';
import { mintToken } from '../../src/gateway/auth.js';
import { createNode } from '../../src/main.js';
import type { ParleyNode } from '../../src/node.js';
import { createLogger } from '../../src/shared/logger.js';

export const TEST_SECRET = 'test-secret-that-is-at-least-32-bytes-long!';
export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789';

export interface TestNode {
  node: ParleyNode;
  config: Config;
  port: number;
  wsUrl: string;
  httpUrl: string;
  /** An HS256 token for `user` (rooms: `["*"]` unless given; `null` for no claim; `mod`: rooms the user moderates). */
  token(user: string, opts?: { rooms?: string[] | null; ttlS?: number; mod?: string[] }): Promise<string>;
  admin(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown, token?: string): Promise<{ status: number; body: unknown }>;
  close(): Promise<void>;
}

/** Starts one in-process Parley node on a free loopback port with a known secret and admin token. */
export async function startNode(env: Record<string, string> = {}): Promise<TestNode> {
  const { config } = loadConfig({
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: '0',
    JWT_SECRET: TEST_SECRET,
    ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    DRAIN_S: '0',
    // Every JetStream stream reserves its max bytes on the shared server: keep test streams small.
    QUEUE_MAX_BYTES: String(16 * 1024 * 1024),
    LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'silent',
    ...env,
  });
  const node = createNode(config, createLogger(config.logLevel));
  const port = await node.start();
  // Signs with the test secret and calls admin with the test token even when `env` configures
  // others: tests of refusals rely on that.
  return { node, config, ...nodeClients(port, new TextEncoder().encode(TEST_SECRET), TEST_ADMIN_TOKEN), close: () => node.close() };
}

/** What tests do over HTTP and with tokens against a node listening on `port`. */
export function nodeClients(port: number, secret: Uint8Array | undefined, adminToken: string): Pick<TestNode, 'port' | 'httpUrl' | 'wsUrl' | 'token' | 'admin'> {
  const httpUrl = `http://127.0.0.1:${port}`;
  return {
    port,
    httpUrl,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    token: async (user, opts = {}) => {
      if (!secret) throw new Error('this node has no HS secret to sign test tokens with');
      const rooms = opts.rooms === null ? undefined : (opts.rooms ?? ['*']);
      return (await mintToken(secret, { user, ttlS: opts.ttlS ?? 3600, ...(rooms ? { rooms } : {}), ...(opts.mod ? { mod: opts.mod } : {}) })).token;
    },
    admin: async (method, path, body, token = adminToken) => {
      const res = await fetch(`${httpUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // non-JSON answers stay text
      }
      return { status: res.status, body: parsed };
    },
  };
}

/**
 * Starts a node the caller built itself (its own config, logger or adapters, e.g. dev mode or
 * a captured log) and wraps it like startNode. `token()` signs with the config's HS secret
 * (dev mode: the generated one); `admin()` defaults to the config's admin token.
 */
export async function startBuiltNode(node: ParleyNode, config: Config): Promise<TestNode> {
  const port = await node.start();
  return { node, config, ...nodeClients(port, config.auth.secret, config.adminToken ?? ''), close: () => node.close() };
}
