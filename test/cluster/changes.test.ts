import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { MongoMessageStore } from '../../src/persistence/mongo-store.js';
import type { ChatMessage } from '../../src/domain/messages.js';
import { applyEvent, foldSummary, newSummaryState, subjectOf, summarize, type SummaryState } from '../../src/domain/summary.js';
import { createLogger } from '../../src/shared/logger.js';
import { runWorker, type RunningWorker } from '../../src/worker.js';
import { checkHistory, type Operation, type StoredMessage } from '../faults/history.js';
import { deleteKeys } from '../contract/redis-support.js';
import { fork } from '../faults/random.js';
import { TestClient } from '../helpers/clients.js';
import type { ProcessNode } from '../helpers/cluster.js';
import { requireMongo, requireRedis, uniquePrefix } from '../helpers/services.js';
import { startPrivateNats, type PrivateService } from '../helpers/services-private.js';
import { ChangeMember, seen } from './changes-workload.js';
import { GENEROUS_RATES, spawnNodes, until } from './support.js';

/**
 * docs/protocol.md, "Message changes", across three gateway processes with the whole durable
 * path (JetStream, a worker, MongoDB): members of one room on every node (a user on two nodes at
 * once) send, reply, edit, delete, react and unreact at random, concurrently. The history checker
 * judges every event as it judges messages (one seq order, each event once to every member,
 * every acknowledged one stored once, no seq naming two); then every member's copy of every
 * message, folded from its pushes, must equal the server's `history`, MongoDB's folded documents,
 * and a fold of the stored events computed here: no change applied twice, none lost.
 */

const USERS_SHOWN = 2;
const MEMBERS = 6;
const OPS = 40;

describe('message changes from several nodes at once', () => {
  const prefix = uniquePrefix('cl_chg');
  const room = 'changes';
  const mongoUrl = `mongodb://127.0.0.1:27017/${prefix}`;
  const nodes: ProcessNode[] = [];
  const clients: TestClient[] = [];
  let nats: PrivateService;
  let worker: RunningWorker;
  let mongo: MongoClient;

  beforeAll(async () => {
    await Promise.all([requireRedis(), requireMongo()]);
    nats = await startPrivateNats();
    const env = { REDIS_URL: 'redis://127.0.0.1:6379', NATS_URL: nats.url, MONGODB_URL: mongoUrl, KEY_PREFIX: prefix, REACTION_USERS_SHOWN: String(USERS_SHOWN), MAX_REACTIONS_PER_MESSAGE: '2', RECENT_MAX: '50', ...GENEROUS_RATES };
    worker = await runWorker(loadConfig({ ...env, NODE_ENV: 'test' }, { role: 'worker' }).config, createLogger('silent'));
    nodes.push(...(await spawnNodes(['c1', 'c2', 'c3'].map((id) => `${prefix}-${id}`), env)));
    mongo = await new MongoClient('mongodb://127.0.0.1:27017', { serverSelectionTimeoutMS: 5_000 }).connect();
  }, 90_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all(nodes.map((n) => n.close()));
    await worker?.close();
    await mongo?.db(prefix).dropDatabase().catch(() => undefined);
    await mongo?.close();
    await nats?.close();
    const redis = new Redis({ host: '127.0.0.1', port: 6379, maxRetriesPerRequest: 1 });
    await deleteKeys(redis, `*${prefix}*`).finally(() => redis.quit());
  });

  it('every member converges to the same state of every message; the checker finds no anomaly', async () => {
    const seed = 20261213;
    const members: ChangeMember[] = [];
    for (let i = 0; i < MEMBERS; i++) {
      const node = nodes[i % nodes.length] as ProcessNode;
      // u1 to u4: u1 and u2 have a device on two nodes, racing themselves.
      const user = `u${(i % 4) + 1}`;
      const c = await TestClient.connect(i % 2 === 0 ? 'ws' : 'sio', node, await node.token(user));
      clients.push(c);
      members.push(new ChangeMember(`m${i + 1}`, user, c, room, fork(seed, `member ${i}`)));
    }
    const joins: Operation[] = [];
    for (const m of members) {
      const at = Date.now();
      const data = await m.c.join(room);
      joins.push({ op: 'open', client: m.id, user: m.user, conn: 1, at, node: String(m.c.hello['node']), exp: Math.floor(Date.now() / 1000) + 3600 });
      joins.push({ op: 'join', client: m.id, conn: 1, at, end: Date.now(), room, outcome: { ok: true, data } });
    }
    // Each member acts on the messages it holds, folded from its own pushes.
    await Promise.all(members.map((m) => m.run(OPS, [5, 40], () => [...m.folded().values()])));

    // Settle: every member has every event up to the head, and MongoDB has them all.
    const head = Math.max(...members.flatMap((m) => m.sends.map((s) => (s.op === 'send' && s.outcome.ok ? s.outcome.data.seq : 0))));
    const maxSeq = (m: ChangeMember) => Math.max(0, ...m.c.pushes.filter((f) => f['room'] === room).map((f) => Number(f['seq'] ?? 0)));
    await until(() => members.every((m) => maxSeq(m) >= head), `every member holds seq ${head}`, 20_000);
    const docs = () => mongo.db(prefix).collection('messages').find({ room }, { projection: { _id: 0 } }).sort({ seq: 1 }).toArray();
    await until(async () => (await docs()).length >= head, `MongoDB holds ${head} events`, 30_000);

    // 1. The history checker, over every event of the room.
    const events = (await docs()).map((d) => d as unknown as ChatMessage);
    const store: Record<string, StoredMessage[]> = { [room]: events.map((e) => seen(e)) };
    const operations: Operation[] = [...joins, ...members.flatMap((m) => m.sends), ...members.flatMap((m) => m.pushes(1))];
    const check = checkHistory({ operations, store, presence: {}, expectedPresence: {} });
    expect(check.anomalies).toEqual([]);
    expect(check.stats.stored).toBe(head);
    expect(events.filter((e) => e['op' as keyof ChatMessage] !== undefined).length).toBeGreaterThan(20);
    if (process.env['FAULTS_VERBOSE']) {
      const kinds: Record<string, number> = {};
      for (const e of events) kinds[e.op ?? (e.parent !== undefined ? 'reply' : 'message')] = (kinds[e.op ?? (e.parent !== undefined ? 'reply' : 'message')] ?? 0) + 1;
      console.log(JSON.stringify({ head, kinds }));
    }

    // 2. A fold of the stored events, computed here, in seq order.
    const expected = foldAll(events);
    // 3. The server's history (Redis summaries and MongoDB), every member's copy, MongoDB's documents.
    const history = await everyMessage(clients[0] as TestClient, room);
    const store2 = new MongoMessageStore({ url: mongoUrl, usersShown: USERS_SHOWN });
    await store2.start();
    try {
      await until(async () => sameAs(expected, (await store2.range(room, 1, head)).filter((e) => e.op === undefined)), 'MongoDB folded every change', 30_000);
    } finally {
      await store2.close();
    }
    expect(strip(history)).toEqual(strip(expected));
    for (const m of members) expect(strip([...m.folded().values()]), m.id).toEqual(strip(expected));
  }, 240_000);
});

/** Every message of the room in its latest version, paging `history` back from the newest. */
async function everyMessage(c: TestClient, room: string): Promise<ChatMessage[]> {
  const out: ChatMessage[] = [];
  for (let before: number | undefined, pages = 0; pages < 100; pages++) {
    const r = await c.request('history', { room, limit: 100, ...(before !== undefined ? { before } : {}) });
    if (!r.ok) throw new Error(`history: ${JSON.stringify(r.error)}`);
    const page = r.data as { messages: ChatMessage[]; more: boolean };
    out.unshift(...page.messages);
    if (!page.more || page.messages.length === 0) break;
    before = page.messages[0]?.seq;
  }
  return out;
}

/** The messages among `events` with every change and reply folded in, as summary.ts folds them. */
function foldAll(events: ChatMessage[]): ChatMessage[] {
  const messages = events.filter((e) => e.op === undefined);
  const states = new Map<number, SummaryState>();
  for (const e of events) {
    const subject = subjectOf(e);
    const target = subject === undefined ? undefined : messages.find((m) => m.seq === subject);
    if (!target) continue;
    let state = states.get(target.seq);
    if (!state) states.set(target.seq, (state = newSummaryState(target.from)));
    applyEvent(state, e);
  }
  // The stored documents carry the latest body already: fold from a copy as sent (the body comes from the edit).
  return messages.map((m) => {
    const state = states.get(m.seq);
    const sent: ChatMessage = { room: m.room, seq: m.seq, cid: m.cid, from: m.from, body: m.body, ts: m.ts, ...(m.parent !== undefined ? { parent: m.parent } : {}) };
    return state ? foldSummary(sent, summarize(state, USERS_SHOWN)) : sent;
  });
}

/** What members, the server and the store must agree on about each message. */
function strip(messages: ChatMessage[]): unknown[] {
  return [...messages]
    .sort((a, b) => a.seq - b.seq)
    .map((m) => ({ seq: m.seq, from: m.from, body: m.body, parent: m.parent, version: m.version ?? 1, deleted: m.deleted ?? false, reactions: m.reactions ?? {}, replies: m.replies, changed: m.changed ?? 0 }));
}

function sameAs(expected: ChatMessage[], got: ChatMessage[]): boolean {
  return JSON.stringify(strip(expected)) === JSON.stringify(strip(got));
}
