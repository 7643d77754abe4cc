/**
 * Admin actions leave one JSON audit line each (who, action, target; never the admin token),
 * and at debug level every connection leaves a line when it opens and when it closes, with
 * its close code.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNode, loadConfig } from '../../src/main.js';
import { createLogger } from '../../src/shared/logger.js';
import { TestClient } from '../helpers/clients.js';
import { startBuiltNode, TEST_ADMIN_TOKEN, TEST_SECRET, type TestNode } from '../helpers/node.js';

const lines: string[] = [];
let node: TestNode;

/** The parsed log entries, as written so far. */
const entries = (): Record<string, unknown>[] => lines.map((l) => JSON.parse(l) as Record<string, unknown>);

/** Waits (with a deadline) until a log entry matches. */
async function logged(pred: (e: Record<string, unknown>) => boolean, what: string): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const found = entries().find(pred);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no log line for ${what}:\n${lines.join('\n')}`);
    await new Promise<void>((resolve) => sink.once('line', resolve));
  }
}

const sink = new Writable({
  write(chunk: Buffer | string, _enc, done) {
    lines.push(...chunk.toString().split('\n').filter((l) => l.length > 0));
    sink.emit('line');
    done();
  },
});

beforeAll(async () => {
  const { config } = loadConfig({ NODE_ENV: 'test', HOST: '127.0.0.1', PORT: '0', JWT_SECRET: TEST_SECRET, ADMIN_TOKEN: TEST_ADMIN_TOKEN, DRAIN_S: '0', LOG_LEVEL: 'debug' });
  node = await startBuiltNode(createNode(config, createLogger(config.logLevel, sink)), config);
});
afterAll(async () => {
  await node.close();
});

describe('audit and connection logs', () => {
  it('a kick: audit line with who, action and target; debug lines for the connection with its close code', async () => {
    const c = await TestClient.connect('ws', node, await node.token('audit-victim'));
    const opened = await logged((e) => e['msg'] === 'connection opened' && e['user'] === 'audit-victim', 'the open');
    expect(opened).toMatchObject({ level: 20, transport: 'ws', conn: expect.any(String) });

    const kicked = await node.admin('POST', '/admin/users/audit-victim/disconnect', { code: 4003, reason: 'spam' });
    expect(kicked.status).toBe(200);
    const audit = await logged((e) => e['audit'] === true && e['action'] === 'disconnect', 'the audit line');
    expect(audit).toMatchObject({ level: 30, msg: 'admin action', target: { user: 'audit-victim' }, code: 4003, reason: 'spam', disconnected: 1, who: { remote: expect.any(String) } });
    expect(String((audit['who'] as { remote: string }).remote)).toMatch(/127\.0\.0\.1|::1|7f00:1/);
    await c.waitClosed();
    const closed = await logged((e) => e['msg'] === 'connection closed' && e['user'] === 'audit-victim', 'the close');
    expect(closed).toMatchObject({ level: 20, code: 4003, conn: opened['conn'] });
    expect(lines.join('\n')).not.toContain(TEST_ADMIN_TOKEN);
  });

  it('an admin post: one audit line naming the room, the sender and the seq', async () => {
    const answer = await node.admin('POST', '/admin/rooms/audit-room/messages', { cid: 'a1', body: 'hello' });
    expect(answer.status).toBe(200);
    const audits = entries().filter((e) => e['audit'] === true && e['action'] === 'post');
    expect(audits).toHaveLength(1);
    expect(audits[0]).toMatchObject({ target: { room: 'audit-room' }, from: 'system', cid: 'a1', seq: 1, dup: false });
  });

  it('a refused admin call and a read leave no audit line', async () => {
    const before = entries().filter((e) => e['audit'] === true).length;
    expect((await node.admin('POST', '/admin/users/x/disconnect', {}, 'wrong-token-0123456789')).status).toBe(401);
    expect((await node.admin('GET', '/admin/stats')).status).toBe(200);
    expect(entries().filter((e) => e['audit'] === true)).toHaveLength(before);
  });
});
