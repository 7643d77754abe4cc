// How a session answers a join: a join cancelled because its connection closed is neither
// answered nor logged (a storm's clients that give up close by the thousand), and a large
// reply is counted for the slow-consumer check by the length of the frame that was written.
import { describe, expect, it } from 'vitest';
import { RoomAcl } from '../../src/gateway/acl.js';
import { Session } from '../../src/gateway/session.js';
import type { ReplyResult } from '../../src/gateway/transport.js';
import { JoinQueue } from '../../src/rooms/join-queue.js';
import type { RoomService } from '../../src/rooms/room-service.js';
import { createLogger } from '../../src/shared/logger.js';
import { FakeTransport, sessionDeps } from '../helpers/session-fakes.js';

function setup(join: (room: string) => Promise<unknown>) {
  const lines: string[] = [];
  const logger = createLogger('debug', { write: (line: string) => void lines.push(line) });
  const roomService = { join: (_c: unknown, room: string) => join(room), leave: () => Promise.resolve() } as unknown as RoomService;
  const deps = sessionDeps(roomService, logger);
  const transport = new FakeTransport();
  const session = new Session('c1', transport, { user: 'u1', exp: 2_000_000_000, rooms: new RoomAcl(['*']) }, deps);
  return { session, transport, lines };
}

const settled = () => new Promise<void>((r) => setImmediate(r));

describe('Session replies', () => {
  it('neither answers nor logs a join cancelled because its connection closed', async () => {
    // A real queue: one slot held, so the session's join waits, then its connection closes.
    const queue = new JoinQueue({ concurrency: 1, maxWaiting: 10 });
    let release!: () => void;
    const held = queue.run('other', () => new Promise<void>((r) => (release = r)));
    const { session, transport, lines } = setup(() => queue.run('c1', () => Promise.resolve({ room: 'r' }), () => !transport.open));
    const replies: ReplyResult[] = [];
    session.handle({ ok: true, rid: 1, req: { t: 'join', room: 'r' } }, (r) => void replies.push(r));
    transport.close();
    release();
    await held;
    await settled();
    await settled();
    expect(replies).toEqual([]);
    expect(lines).toEqual([]);
  });

  it('still answers and logs a join that failed for another reason', async () => {
    const { session, lines } = setup(() => Promise.reject(new Error('boom')));
    const replies: ReplyResult[] = [];
    session.handle({ ok: true, rid: 1, req: { t: 'join', room: 'r' } }, (r) => void replies.push(r));
    await settled();
    expect(replies).toMatchObject([{ ok: false, error: { code: 'internal' } }]);
    expect(lines.join('')).toContain('request failed');
  });

  it('counts a join reply by the length its transport wrote, or by its JSON when the transport cannot tell', async () => {
    const data = { room: 'r', messages: [{ seq: 1, body: 'x'.repeat(500) }] };
    const { session } = setup(() => Promise.resolve(data));
    session.handle({ ok: true, rid: 1, req: { t: 'join', room: 'r' } }, () => 12_345);
    await settled();
    expect(session.settleReplyBacklog(1_000_000)).toBe(12_345);
    const other = setup(() => Promise.resolve(data)).session;
    other.handle({ ok: true, rid: 1, req: { t: 'join', room: 'r' } }, () => undefined);
    await settled();
    expect(other.settleReplyBacklog(1_000_000)).toBe(JSON.stringify(data).length);
  });
});
