/**
 * THE end-to-end guarantee of the SDK: two clients chat through a TCP proxy while the network
 * under them is cut again and again. At the end every send had exactly one result, every
 * message reached each client exactly once and in seq order, and the server stored each once.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ChatMessage, ParleyClient, SendReply } from '../../packages/client/src/index.js';
import { startNode, type TestNode } from '../helpers/node.js';
import { startProxy, type TcpProxy } from '../helpers/proxy.js';
import { Inbox, closeAll, next, range, sdk, within } from './sdk-support.js';

const ROOM = 'chaos-room';
const USERS = ['chaos-alice', 'chaos-bob'] as const;
const WAVES = 10;
const PER_WAVE = 10; // per client: 2 x 10 x 10 = 200 messages
const TOTAL = USERS.length * WAVES * PER_WAVE;
/** Waves after which the network is cut: right away (all in flight), or once part is acknowledged. */
const DROP_NOW = new Set([2, 6]);
const DROP_AFTER_FIRST_REPLY = new Set([4, 8]);
/** After this wave's cut, cut again as soon as a client is back (its rejoin and resends in flight). */
const DOUBLE_DROP = 6;

let node: TestNode;
let proxy: TcpProxy;
beforeAll(async () => {
  // Rate limits are not under test here: 200 quick sends must not be refused.
  node = await startNode({ RATE_PER_S: '10000', RATE_BURST: '10000' });
  proxy = await startProxy(node.port);
});
afterAll(async () => {
  await closeAll();
  await proxy.close();
  await node.close();
});

interface Sent {
  user: string;
  cid: string;
  body: string;
  results: Array<{ reply?: SendReply; error?: unknown }>;
  promise: Promise<unknown>;
}

async function serverHistory(): Promise<ChatMessage[]> {
  const all: ChatMessage[] = [];
  let before: number | undefined;
  for (;;) {
    const query = before === undefined ? '?limit=100' : `?limit=100&before=${before}`;
    const page = (await node.admin('GET', `/admin/rooms/${ROOM}/messages${query}`)).body as { messages: ChatMessage[]; more: boolean };
    all.unshift(...page.messages);
    if (!page.more || page.messages.length === 0) return all;
    before = page.messages[0]?.seq;
  }
}

it(`two clients, ${TOTAL} concurrent sends, the network cut ${DROP_NOW.size + DROP_AFTER_FIRST_REPLY.size + 1} times: exactly once, in order, everywhere`, async () => {
  const clients: ParleyClient[] = USERS.map((user) => sdk(proxy.wsUrl, { getToken: () => node.token(user) }));
  const inboxes = clients.map((c) => new Inbox(c));
  const hellos = clients.map(() => 0);
  clients.forEach((c, i) => c.on('hello', () => void (hellos[i] = (hellos[i] ?? 0) + 1)));
  const gaps: unknown[] = [];
  for (const c of clients) c.on('gap', (g) => gaps.push(g));
  const closes: string[] = [];
  clients.forEach((c, i) => c.on('close', (e) => closes.push(`${i}:${e.code}`)));
  for (const c of clients) await c.join(ROOM);

  const sent: Sent[] = [];
  const cuts: number[] = [];
  /** Both clients connected, so that a cut hits both. */
  const bothOpen = () => Promise.all(clients.map((c) => (c.state === 'open' ? Promise.resolve() : next(c, 'state', (st) => st === 'open', 10_000))));
  for (let wave = 0; wave < WAVES; wave++) {
    if (DROP_NOW.has(wave) || DROP_AFTER_FIRST_REPLY.has(wave)) await bothOpen();
    const waveSends: Array<Promise<unknown>> = [];
    for (let k = 0; k < PER_WAVE; k++) {
      clients.forEach((client, i) => {
        const user = USERS[i] ?? '';
        const cid = `${user}-${wave}-${k}`;
        const entry: Sent = { user, cid, body: `${user} says ${wave}.${k}`, results: [], promise: Promise.resolve() };
        entry.promise = client.send(ROOM, entry.body, undefined, { cid }).then(
          (reply) => void entry.results.push({ reply }),
          (error: unknown) => void entry.results.push({ error }),
        );
        sent.push(entry);
        waveSends.push(entry.promise);
      });
    }
    if (DROP_NOW.has(wave)) cuts.push(proxy.dropAll());
    if (DROP_AFTER_FIRST_REPLY.has(wave)) {
      await within(Promise.race(waveSends), `a reply in wave ${wave}`);
      cuts.push(proxy.dropAll());
    }
    if (wave === DOUBLE_DROP) {
      await Promise.all(clients.map((c) => next(c, 'hello', undefined, 10_000)));
      cuts.push(proxy.dropAll());
    }
    // Pace the conversation: the next wave starts once this one has some answer.
    await within(Promise.race(waveSends), `progress in wave ${wave}`, 10_000);
  }
  await within(Promise.all(sent.map((s) => s.promise)), 'every send to settle', 15_000);

  // Each cut really cut something, and each client came back after each.
  expect(cuts).toEqual([2, 2, 2, 2, 2]);
  // ...and nothing else dropped a connection: one hello per cut, plus the first.
  expect(hellos, `closes seen: ${closes.join(' ')}`).toEqual([cuts.length + 1, cuts.length + 1]);

  // Every send: exactly one result, a reply, with a seq of its own.
  expect(sent.filter((s) => s.results.length !== 1).map((s) => s.cid)).toEqual([]);
  expect(sent.filter((s) => s.results[0]?.error !== undefined).map((s) => [s.cid, String(s.results[0]?.error)])).toEqual([]);
  const seqOf = new Map(sent.map((s) => [s.cid, s.results[0]?.reply?.seq]));
  expect([...seqOf.values()].sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(range(TOTAL));

  // Every client: every message once, seqs 1..TOTAL in order, each the one its sender sent.
  const bySeq = new Map(sent.map((s) => [seqOf.get(s.cid), s]));
  for (const [i, inbox] of inboxes.entries()) {
    await inbox.waitCount(ROOM, TOTAL, 10_000);
    await clients[i]?.ping(); // anything pushed before this reply has arrived: no late duplicate
    const got = inbox.of(ROOM);
    expect(got.map((m) => m.seq)).toEqual(range(TOTAL));
    for (const m of got) {
      const s = bySeq.get(m.seq);
      expect([m.cid, m.from, m.body]).toEqual([s?.cid, s?.user, s?.body]);
    }
  }
  expect(gaps).toEqual([]);

  // The server stored each message once, under the seq its sender was told.
  const stored = await serverHistory();
  expect(stored.map((m) => m.seq)).toEqual(range(TOTAL));
  expect(stored.map((m) => [m.seq, m.cid, m.from, m.body])).toEqual(range(TOTAL).map((seq) => {
    const s = bySeq.get(seq);
    return [seq, s?.cid, s?.user, s?.body];
  }));
}, 60_000);
