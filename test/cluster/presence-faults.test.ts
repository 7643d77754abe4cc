import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { TestClient } from '../helpers/clients.js';
import type { ProcessNode } from '../helpers/cluster.js';
import { uniquePrefix } from '../helpers/services.js';
import { startPrivateRedis, type PrivateRedis } from '../helpers/services-private.js';
import { busServices, spawnNodes, until } from './support.js';

// docs/protocol.md, "Presence is eventually true": after a fault, open connections count again and
// closed ones stop counting within NODE_TTL_S plus 5 s. Gateway processes on the Redis bus;
// the Redis that stops is private to this file, the other test uses the shared one.

const NODE_TTL_S = 2;
const PROMISED_MS = (NODE_TTL_S + 5) * 1000;
const FAULT_MS = 15_000;
const CAP = 3;

const clients: TestClient[] = [];
const nodes: ProcessNode[] = [];
let redis: PrivateRedis | undefined;

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const n of nodes) n.kill('SIGCONT');
  await Promise.all(nodes.splice(0).map((n) => n.close()));
});
afterAll(async () => {
  await redis?.close();
});

async function start(name: string, ids: string[], redisUrl?: string): Promise<ProcessNode[]> {
  const services = await busServices('redis', redisUrl);
  const env = { ...services.env, KEY_PREFIX: uniquePrefix(name), NODE_TTL_S: String(NODE_TTL_S), PRESENCE_GRACE_S: '1', MAX_CONNS_PER_USER: String(CAP) };
  const started = await spawnNodes(ids, env);
  nodes.push(...started);
  return started;
}

async function connect(node: ProcessNode, user: string, room?: string): Promise<TestClient> {
  const c = await TestClient.connect('ws', node, await node.token(user));
  clients.push(c);
  if (room !== undefined) await c.join(room);
  return c;
}

async function refusal(node: ProcessNode, user: string): Promise<unknown> {
  const attempt = await TestClient.attempt('ws', node, await node.token(user));
  if (attempt instanceof TestClient) {
    clients.push(attempt);
    return 'admitted';
  }
  return attempt;
}

interface UserView {
  online: boolean;
  devices: number;
  rooms: string[];
}

async function userView(node: ProcessNode, user: string): Promise<UserView> {
  const res = await node.admin('GET', `/admin/users/${user}/presence`);
  if (res.status !== 200) throw new Error(`user presence answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body as UserView;
}

async function devicesIn(node: ProcessNode, room: string): Promise<Record<string, number>> {
  const res = await node.admin('GET', `/admin/rooms/${room}/presence`);
  const members = (res.body as { members: { user: string; devices: number }[] }).members;
  return Object.fromEntries(members.map((m) => [m.user, m.devices]));
}

describe('presence after faults (gateway processes)', () => {
  it('connections that closed while Redis was down stop counting once it is back: the user is offline and may connect again', async () => {
    redis = await startPrivateRedis();
    const [node] = (await start('pf_redis', ['pf-redis-n1'], redis.url)) as [ProcessNode];
    const room = 'pf-blip';
    const ivy = await Promise.all([1, 2, 3].map(() => connect(node, 'ivy', room)));
    expect(await refusal(node, 'ivy')).toEqual({ status: 429 });

    await redis.stop({ keepData: true });
    for (const c of ivy) c.close();
    const failedReleases = () => node.output.join('').match(/unregistering a connection failed/g)?.length ?? 0;
    await until(() => failedReleases() >= CAP, 'the node to fail to unregister the closed connections', FAULT_MS);
    await redis.start();
    const promised = Date.now() + PROMISED_MS;

    await until(async () => !(await userView(node, 'ivy').catch(() => ({ online: true }))).online, 'ivy to be offline', PROMISED_MS);
    expect(await userView(node, 'ivy')).toEqual({ user: 'ivy', online: false, devices: 0, rooms: [] });
    await until(async () => Object.keys(await devicesIn(node, room)).length === 0, 'the room to be empty', Math.max(1, promised - Date.now()));
    for (let i = 0; i < CAP; i++) await connect(node, 'ivy');
    expect(await refusal(node, 'ivy')).toEqual({ status: 429 });
  }, 60_000);

  it('a node paused longer than NODE_TTL_S counts its connections again after SIGCONT, and the others hear they are back online', async () => {
    const [a, b] = (await start('pf_pause', ['pf-pause-a', 'pf-pause-b'])) as [ProcessNode, ProcessNode];
    const room = 'pf-pause';
    const watcher = await connect(b, 'kim', room);
    for (let i = 0; i < CAP; i++) await connect(a, 'jay', room);
    const isJay = (status: string) => (f: Record<string, unknown>) => f['user'] === 'jay' && f['status'] === status;
    await watcher.waitFor('presence', isJay('online'), 10_000);

    a.kill('SIGSTOP');
    try {
      await watcher.waitFor('presence', isJay('offline'), FAULT_MS);
      expect(await userView(b, 'jay')).toMatchObject({ online: false, devices: 0 });
    } finally {
      a.kill('SIGCONT');
    }
    const promised = Date.now() + PROMISED_MS;

    await watcher.waitFor('presence', isJay('online'), PROMISED_MS);
    await until(async () => (await devicesIn(b, room))['jay'] === CAP, `jay's ${CAP} connections in the room`, Math.max(1, promised - Date.now()));
    expect(await devicesIn(b, room)).toEqual({ jay: CAP, kim: 1 });
    expect(await userView(b, 'jay')).toEqual({ user: 'jay', online: true, devices: CAP, rooms: [room] });
    expect(await refusal(b, 'jay')).toEqual({ status: 429 });
    expect(a.output.join('')).toMatch(/heartbeat of pf-pause-a was gone/);
  }, 60_000);
});
