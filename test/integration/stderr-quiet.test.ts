/**
 * A node's output is its JSON log on stdout and nothing on stderr, however many clients come
 * and go: uWS prints a plain-text warning to stderr for every response write made outside a
 * corked callback (one per /ws upgrade, when it ran uncorked), which breaks JSON log pipelines.
 * The node runs as a process of its own so that everything it prints is seen.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { io as sioConnect } from 'socket.io-client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { freePort } from '../helpers/cluster.js';
import { nodeClients, TEST_ADMIN_TOKEN, TEST_SECRET, type TestNode } from '../helpers/node.js';

const ALLOWED_ORIGIN = 'http://allowed.test';
const DEADLINE_MS = 20_000;

let child: ChildProcess;
let exited: Promise<number | null>;
let node: Pick<TestNode, 'httpUrl' | 'wsUrl' | 'token' | 'admin'>;
let stdout = '';
let stderr = '';

beforeAll(async () => {
  const port = await freePort();
  child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts'], {
    env: {
      PATH: process.env['PATH'] ?? '',
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      PORT: String(port),
      NODE_ID: 'stderr-quiet',
      JWT_SECRET: TEST_SECRET,
      ADMIN_TOKEN: TEST_ADMIN_TOKEN,
      ALLOWED_ORIGINS: ALLOWED_ORIGIN,
      MAX_CONNS_PER_USER: '2',
      LOG_LEVEL: 'info',
      DRAIN_S: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const listening = new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (stdout.includes('parley is listening')) resolve();
    });
    void exited.then((code) => reject(new Error(`the node exited with ${code} before listening:\n${stdout}\n${stderr}`)));
  });
  await within(listening, 'the node to listen');
  node = nodeClients(port, new TextEncoder().encode(TEST_SECRET), TEST_ADMIN_TOKEN);
}, 30_000);

afterAll(() => {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

function within<T>(promise: Promise<T>, what: string, ms = DEADLINE_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; stderr so far:\n${stderr}`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Runs `count` tasks, `width` at a time (as many upgrades as that wait for admission together). */
async function waves<T>(count: number, width: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  for (let start = 0; start < count; start += width) {
    const n = Math.min(width, count - start);
    results.push(...(await Promise.all(Array.from({ length: n }, (_, k) => task(start + k)))));
  }
  return results;
}

/** One /ws session: the hello, then a normal close. Resolves with what went wrong, or undefined. */
async function wsSession(url: string): Promise<string | undefined> {
  const ws = new WebSocket(url);
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  ws.on('error', () => undefined);
  const first = await within(Promise.race([new Promise<'hello'>((resolve) => ws.once('message', () => resolve('hello'))), closed]), 'a hello');
  if (first !== 'hello') return `closed with ${first} before its hello`;
  ws.close(1000);
  const code = await within(closed, 'the close');
  return code === 1000 ? undefined : `closed with ${code}`;
}

/** The status a refused /ws upgrade is answered with. */
async function refusedWith(url: string, headers: Record<string, string> = {}): Promise<number> {
  const ws = new WebSocket(url, { headers });
  ws.on('error', () => undefined);
  return within(new Promise<number>((resolve) => ws.once('unexpected-response', (_req, res) => (resolve(res.statusCode ?? 0), res.resume()))), 'a refusal');
}

/** One Socket.IO session over `transport` only: its hello, then a disconnect. */
async function sioSession(token: string, transport: 'websocket' | 'polling'): Promise<string | undefined> {
  const socket = sioConnect(node.httpUrl, { auth: { token }, transports: [transport], reconnection: false, forceNew: true });
  try {
    return await within(
      new Promise<string | undefined>((resolve) => {
        socket.once('hello', () => resolve(undefined));
        socket.once('connect_error', (err) => resolve(`connect_error ${err.message}`));
        socket.once('disconnect', (reason) => resolve(`disconnected: ${reason}`));
      }),
      `a Socket.IO hello over ${transport}`,
    );
  } finally {
    socket.disconnect();
  }
}

it('1,000 /ws sessions, refusals, Socket.IO over both transports and HTTP leave stderr empty and stdout JSON', { timeout: 120_000 }, async () => {
  const tokens = await waves(1000, 100, (i) => node.token(`quiet-${i}`));
  const wsFailures = await waves(1000, 50, (i) => wsSession(`${node.wsUrl}?token=${encodeURIComponent(tokens[i] ?? '')}`));
  expect(wsFailures.filter((f) => f !== undefined)).toEqual([]);

  // Every refusal of the upgrade path, and the token check of a plain GET /ws.
  expect(await refusedWith(`${node.wsUrl}?token=nope`)).toBe(401);
  expect(await refusedWith(`${node.wsUrl}?token=${tokens[0]}`, { origin: 'http://elsewhere.test' })).toBe(403);
  expect(await refusedWith(`${node.wsUrl}?token=${tokens[0]}&batch=2`)).toBe(400);
  const held = [new WebSocket(`${node.wsUrl}?token=${tokens[1]}`), new WebSocket(`${node.wsUrl}?token=${tokens[1]}`)];
  await within(Promise.all(held.map((ws) => new Promise((resolve) => ws.once('message', resolve)))), 'two sessions of one user');
  expect(await refusedWith(`${node.wsUrl}?token=${tokens[1]}`)).toBe(429);
  for (const ws of held) ws.close(1000);
  expect((await fetch(`${node.httpUrl}/ws?token=${tokens[2]}`)).status).toBe(426);
  expect((await fetch(`${node.httpUrl}/ws?token=nope`)).status).toBe(401);

  const sioTokens = await waves(300, 100, (i) => node.token(`quiet-sio-${i}`));
  const sioFailures = [
    ...(await waves(200, 25, (i) => sioSession(sioTokens[i] ?? '', 'websocket'))),
    ...(await waves(100, 25, (i) => sioSession(sioTokens[200 + i] ?? '', 'polling'))),
  ];
  expect(sioFailures.filter((f) => f !== undefined)).toEqual([]);

  for (const path of ['/healthz', '/readyz', '/nowhere']) await (await fetch(`${node.httpUrl}${path}`)).text();
  expect((await node.admin('GET', '/metrics')).status).toBe(200);
  expect((await node.admin('GET', '/admin/stats')).status).toBe(200);
  expect((await node.admin('GET', '/admin/stats', undefined, 'wrong-token')).status).toBe(401);

  child.kill('SIGTERM');
  expect(await within(exited, 'the node to exit')).toBe(0);
  expect(stderr).toBe('');
  const lines = stdout.split('\n').filter((l) => l.length > 0);
  expect(lines.length).toBeGreaterThan(0);
  expect(lines.filter((l) => !isJsonObject(l))).toEqual([]);
});

function isJsonObject(line: string): boolean {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}
