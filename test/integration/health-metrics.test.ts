import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS, TestClient } from '../helpers/clients.js';
import { startNode, type TestNode } from '../helpers/node.js';
import { http, until } from './http-support.js';

/** Samples of a Prometheus text exposition, keyed by `name{labels}` exactly as printed. */
type Samples = Map<string, number>;

function parseMetrics(text: string): { samples: Samples; types: Map<string, string>; helps: Set<string> } {
  const samples: Samples = new Map();
  const types = new Map<string, string>();
  const helps = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    const help = /^# HELP (\S+) /.exec(line);
    if (help) helps.add(help[1]!);
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    samples.set(m[1]!, Number(m[2]));
  }
  return { samples, types, helps };
}

let node: TestNode;

async function scrape(): Promise<Samples> {
  return parseMetrics((await http(node, 'GET', '/metrics')).text).samples;
}

/** A sample's value, 0 while a labelled series has not been created yet. */
const val = (s: Samples, key: string) => s.get(key) ?? 0;
const sum = (s: Samples, name: string) => [...s].filter(([k]) => k === name || k.startsWith(`${name}{`)).reduce((acc, [, v]) => acc + v, 0);

describe('while serving', () => {
  beforeAll(async () => {
    node = await startNode();
  });
  afterAll(async () => {
    await node.close();
  });

  it('GET /healthz is 200 {"status":"ok"}', async () => {
    const answer = await http(node, 'GET', '/healthz');
    expect(answer.status).toBe(200);
    expect(answer.contentType).toMatch(/^application\/json/);
    expect(answer.json).toEqual({ status: 'ok' });
  });

  it('GET /readyz is 200 with a status and the checks', async () => {
    const answer = await http(node, 'GET', '/readyz');
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ status: expect.any(String), checks: expect.any(Object) });
    expect(answer.json.status).toBe('ready');
    for (const v of Object.values(answer.json.checks)) expect(typeof v).toBe('string');
    expect(answer.json.checks.draining).toBe('no');
  });

  it('GET /metrics is Prometheus text with every parley metric, typed and documented', async () => {
    const answer = await http(node, 'GET', '/metrics');
    expect(answer.status).toBe(200);
    expect(answer.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const { samples, types, helps } = parseMetrics(answer.text);
    const expected: [string, string][] = [
      ['parley_connections', 'gauge'],
      ['parley_messages_in_total', 'counter'],
      ['parley_messages_out_total', 'counter'],
      ['parley_send_latency_seconds', 'histogram'],
      ['parley_dropped_pushes_total', 'counter'],
      ['parley_closes_total', 'counter'],
    ];
    for (const [name, type] of expected) {
      expect(types.get(name), name).toBe(type);
      expect(helps.has(name), name).toBe(true);
    }
    expect(samples.get('parley_dropped_pushes_total')).toBe(0);
    expect(samples.get('parley_send_latency_seconds_bucket{le="+Inf"}')).toBe(samples.get('parley_send_latency_seconds_count'));
  });

  it('parley_connections follows connections of each transport', async () => {
    const before = await scrape();
    const clients = await Promise.all(KINDS.map(async (kind) => TestClient.connect(kind, node, await node.token(`m-conn-${kind}`))));
    const during = await scrape();
    for (const kind of KINDS) {
      expect(val(during, `parley_connections{transport="${kind}"}`), kind).toBe(val(before, `parley_connections{transport="${kind}"}`) + 1);
    }
    for (const c of clients) c.close();
    await until('parley_connections to drop back', async () => {
      const after = await scrape();
      return KINDS.every((k) => val(after, `parley_connections{transport="${k}"}`) === val(before, `parley_connections{transport="${k}"}`)) ? true : undefined;
    });
  });

  it('messages in/out and the send latency histogram move with real sends', async () => {
    const room = 'm-traffic';
    const w = await TestClient.connect('ws', node, await node.token('m-w'));
    const s = await TestClient.connect('sio', node, await node.token('m-s'));
    await w.join(room);
    await s.join(room);
    const before = await scrape();

    await w.send(room, 'c1', 'one');
    await s.send(room, 'c2', 'two');
    await w.request('send', { room, cid: 'c1', body: 'one again' }); // a dup
    for (const c of [w, s]) {
      await c.waitFor('msg', (f) => f['seq'] === 1);
      await c.waitFor('msg', (f) => f['seq'] === 2);
    }
    const after = await scrape();

    expect(val(after, 'parley_messages_in_total{dup="false"}')).toBe(val(before, 'parley_messages_in_total{dup="false"}') + 2);
    expect(val(after, 'parley_messages_in_total{dup="true"}')).toBe(val(before, 'parley_messages_in_total{dup="true"}') + 1);
    // Two accepted messages, each pushed to two member connections (one per transport); the dup is not pushed.
    expect(val(after, 'parley_messages_out_total')).toBe(val(before, 'parley_messages_out_total') + 4);

    const count = 'parley_send_latency_seconds_count';
    expect(val(after, count)).toBe(val(before, count) + 3);
    expect(val(after, 'parley_send_latency_seconds_sum')).toBeGreaterThan(val(before, 'parley_send_latency_seconds_sum'));
    const buckets = [...after].filter(([k]) => k.startsWith('parley_send_latency_seconds_bucket{'));
    expect(buckets.length).toBeGreaterThan(3);
    expect(buckets.at(-1)?.[0]).toBe('parley_send_latency_seconds_bucket{le="+Inf"}');
    expect(buckets.at(-1)?.[1]).toBe(val(after, count));
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]![1]).toBeGreaterThanOrEqual(buckets[i - 1]![1]);
    w.close();
    s.close();
  });

  it('an admin post counts as a message in', async () => {
    const before = await scrape();
    expect((await node.admin('POST', '/admin/rooms/m-admin-post/messages', { cid: 'a1', body: 'x' })).status).toBe(200);
    expect(sum(await scrape(), 'parley_messages_in_total')).toBe(sum(before, 'parley_messages_in_total') + 1);
  });

  it('parley_closes_total counts closes by code: 4003 after an admin disconnect, 1000 after a client close', async () => {
    const key4003 = 'parley_closes_total{code="4003"}';
    const key1000 = 'parley_closes_total{code="1000"}';
    const before = await scrape();
    const kicked = await Promise.all(KINDS.map(async (kind) => TestClient.connect(kind, node, await node.token('m-kicked'))));
    expect((await node.admin('POST', '/admin/users/m-kicked/disconnect', {})).body).toEqual({ disconnected: 2 });
    for (const c of kicked) expect((await c.waitClosed()).code).toBe(4003);
    await until('closes_total{code="4003"} to grow by 2', async () => (val(await scrape(), key4003) === val(before, key4003) + 2 ? true : undefined));

    const leaving = await Promise.all(KINDS.map(async (kind) => TestClient.connect(kind, node, await node.token('m-leaving'))));
    for (const c of leaving) c.close();
    await until('closes_total{code="1000"} to grow by 2', async () => (val(await scrape(), key1000) === val(before, key1000) + 2 ? true : undefined));
    expect(val(await scrape(), key4003)).toBe(val(before, key4003) + 2);
  });
});

describe('while draining', () => {
  beforeAll(async () => {
    node = await startNode({ DRAIN_S: '1' });
  });
  afterAll(async () => {
    await node.close();
  });

  it('GET /readyz is 503 with status "draining"; /healthz stays 200', async () => {
    expect((await http(node, 'GET', '/readyz')).status).toBe(200);
    const draining = node.node.drain();
    const ready = await http(node, 'GET', '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.json).toEqual({ status: 'draining', checks: expect.objectContaining({ draining: 'yes' }) });
    expect((await http(node, 'GET', '/healthz')).json).toEqual({ status: 'ok' });
    await draining;
  });
});
