import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from '../helpers/clients.js';
import { startNode, type TestNode } from '../helpers/node.js';
import type { Received } from '../helpers/webhook-receiver.js';
import { eventually } from './persist-support.js';
import { webhookDeployment, type WebhookDeployment } from './webhook-support.js';

const GRACE_S = 2;

/**
 * A gateway and a worker with WEBHOOK_URL: presence changes after the grace period, and the
 * members a stored message missed, as the receiver gets them.
 */
describe('presence and missed webhooks', () => {
  let d: WebhookDeployment;
  let node: TestNode;
  const open: TestClient[] = [];

  beforeAll(async () => {
    d = await webhookDeployment('wh_presence', { PRESENCE_GRACE_S: String(GRACE_S) });
    node = await startNode(d.env);
    await d.worker();
  }, 60_000);
  afterEach(() => {
    for (const c of open.splice(0)) c.close();
  });
  afterAll(async () => {
    await node?.close();
    await d?.close();
  });

  const connect = async (user: string, ...rooms: string[]): Promise<TestClient> => {
    const c = await TestClient.connect('ws', node, await node.token(user));
    open.push(c);
    for (const room of rooms) await c.join(room);
    return c;
  };
  const eventsOf = (room: string, pred: (r: Received) => boolean = () => true) => d.receiver.delivered().filter((r) => r.body.room === room && pred(r));
  const presenceOf = (room: string, user: string) => eventsOf(room, (r) => r.body.type.startsWith('user.') && r.body.data['user'] === user).map((r) => r.body.type);
  const devices = async (room: string, user: string): Promise<number | undefined> => {
    const page = (await node.admin('GET', `/admin/rooms/${room}/presence`)).body as { members: { user: string; devices: number }[] };
    return page.members.find((m) => m.user === user)?.devices;
  };

  it('online at the first join; offline only after the grace period, and a quick reconnect sends neither', async () => {
    const room = 'grace';
    const first = await connect('alice', room);
    await d.receiver.waitFor('alice online', () => presenceOf(room, 'alice').length === 1);
    expect(presenceOf(room, 'alice')).toEqual(['user.online']);
    const online = eventsOf(room)[0];
    expect(online?.body).toMatchObject({ type: 'user.online', room, data: { user: 'alice' }, id: expect.stringMatching(/^user\.online\/grace\/\d+\/alice$/) });

    // A reconnect within the grace period.
    first.close();
    await eventually('alice in the grace period', async () => (await devices(room, 'alice')) === 0);
    const second = await connect('alice', room);
    second.close();
    const closedAt = Date.now();
    await d.receiver.waitFor('alice offline', () => presenceOf(room, 'alice').includes('user.offline'));
    // A room's events come in order: an offline (or online) for the quick reconnect, decided a
    // grace period after the first close, would have come before this one.
    expect(presenceOf(room, 'alice')).toEqual(['user.online', 'user.offline']);
    const offline = eventsOf(room).at(-1)?.body;
    expect(offline?.ts).toBeGreaterThanOrEqual(closedAt + GRACE_S * 1000 - 250);
    expect(offline?.id).toBe(`user.offline/grace/${offline?.ts}/alice`);
  });

  it('message.missed names the members without a connection: readers gone offline and users in the grace period, not the sender or those connected', async () => {
    const room = 'missed';
    const alice = await connect('alice', room);
    const bob = await connect('bob', room);
    await connect('carol', room);
    const dave = await connect('dave', room);
    await alice.send(room, 'm1', 'first');
    await d.receiver.waitFor('m1 stored', () => eventsOf(room, (r) => r.body.type === 'message.stored').length === 1);
    // bob reads (his pointer reaches MongoDB through the persist worker), then leaves for good.
    await bob.request('read', { room, seq: 1 });
    await eventually('bob read pointer stored', async () => (await d.mongo.db(d.prefix).collection('reads').countDocuments({ room, user: 'bob' })) > 0);
    bob.close();
    await d.receiver.waitFor('bob offline', () => presenceOf(room, 'bob').includes('user.offline'));
    // dave leaves, and is still inside the grace period when alice sends.
    dave.close();
    await eventually('dave in the grace period', async () => (await devices(room, 'dave')) === 0);
    await alice.send(room, 'm2', 'second');
    await d.receiver.waitFor('m2 missed', () => eventsOf(room, (r) => r.body.type === 'message.missed').length === 1);

    const missed = eventsOf(room, (r) => r.body.type === 'message.missed');
    expect(missed.map((r) => r.body.data)).toEqual([{ seq: 2, cid: 'm2', from: 'alice', epoch: expect.any(String), users: ['bob', 'dave'] }]);
    expect(missed[0]?.body.id).toMatch(/^message\.missed\/missed\/[A-Za-z0-9_-]+\/2$/);
    const types = eventsOf(room).map((r) => `${r.body.type}:${String(r.body.data['seq'] ?? r.body.data['user'])}`);
    expect(types.indexOf('message.missed:2')).toBeGreaterThan(types.indexOf('message.stored:2'));
    expect(types.filter((t) => t.startsWith('message.'))).toEqual(['message.stored:1', 'message.stored:2', 'message.missed:2']);
  });
});
