import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from '../helpers/clients.js';
import type { ProcessNode } from '../helpers/cluster.js';
import { HookServer } from '../helpers/hook-server.js';
import { uniquePrefix } from '../helpers/services.js';
import { busServices, spawnNodes, type BusServices } from './support.js';

// docs/hooks.md across gateway processes on Redis: the hook is asked once per accepted cid
// whichever node a resend reaches, and what it changed is what every node delivers.

describe('the before-publish hook across two gateway processes', () => {
  let services: BusServices | undefined;
  let hook: HookServer;
  let a: ProcessNode;
  let b: ProcessNode;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    hook = await HookServer.start();
    services = await busServices('redis');
    const env = { ...services.env, KEY_PREFIX: uniquePrefix('hookcl'), HOOK_PUBLISH_URL: hook.url, HOOK_TIMEOUT_MS: '2000' };
    [a, b] = (await spawnNodes(['hookcl-a', 'hookcl-b'], env)) as [ProcessNode, ProcessNode];
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all([a, b].map((x) => x?.close()));
    await services?.close();
    await hook?.close();
  });

  const member = async (node: ProcessNode, kind: 'ws' | 'sio', user: string, room: string): Promise<TestClient> => {
    const c = await TestClient.connect(kind, node, await node.token(user));
    clients.push(c);
    await c.join(room);
    return c;
  };

  it('a resend of an accepted cid on the other node is a dup, and the hook is not asked again', async () => {
    const room = 'hookcl-dup';
    hook.answer = () => ({ verdict: { action: 'modify', body: 'as the hook wrote it' } });
    const onA = await member(a, 'ws', 'hookcl-ann', room);
    const onB = await member(b, 'sio', 'hookcl-ann', room);
    const watcher = await member(b, 'ws', 'hookcl-watch', room);
    const first = await onA.send(room, 'c1', 'as sent');
    expect(hook.callsFor('c1')).toHaveLength(1);
    expect((await onB.request('send', { room, cid: 'c1', body: 'as sent' })).data).toEqual({ ...first, dup: true });
    expect(hook.callsFor('c1')).toHaveLength(1);
    expect(await watcher.waitFor('msg', (f) => f['room'] === room, 10_000)).toMatchObject({ seq: first.seq, body: 'as the hook wrote it' });
  });

  it('a message the hook rejected on one node takes no seq: the next one on the other node is seq 1', async () => {
    const room = 'hookcl-reject';
    hook.answer = (call) => (call.body['body'] === 'bad' ? { verdict: { action: 'reject', code: 'nope' } } : { verdict: { action: 'accept' } });
    const onA = await member(a, 'ws', 'hookcl-rex', room);
    const onB = await member(b, 'ws', 'hookcl-rey', room);
    expect((await onA.request('send', { room, cid: 'r1', body: 'bad' })).error).toMatchObject({ code: 'rejected', reason: 'nope' });
    expect(await onB.send(room, 'r2', 'good')).toMatchObject({ seq: 1 });
  });
});
