import { readdirSync } from 'node:fs';
import { startServer, stopAll, type Server } from '../lib/children.js';
import { connectGroup, mergeCounts, MemberGen, openFilesLimit, sourceAddresses, type ResumeStatus, type SendResult, type VerifyResult } from '../lib/member-gens.js';
import { cpuSeconds, percentiles, type Percentiles } from '../lib/measure.js';
import { nowMs } from '../lib/client.js';
import { threshold, type Row, type Scenario, type ScenarioResult } from '../lib/report.js';
import { benchPrefix, cleanupPrefix, type Services } from '../lib/services.js';
import { servicesOrNote } from './cluster.js';

const ROOMS = 200;
/** Descriptors each node keeps free beyond its clients: listener, Redis, NATS, pipes, the live users. */
const FD_MARGIN = 500;
const PER_GENERATOR = 5_000;
/** `nice` of the storm clients' generators (the live users' generator keeps the default). */
const STORM_GENERATOR_NICE = 10;

function sizes(quick: boolean) {
  return quick
    ? { target: 2_000, live: 20, ratePerS: 100, steadyMs: 3_000, afterMs: 2_000, resumeDeadlineMs: 90_000, connectDeadlineMs: 120_000 }
    : { target: 20_000, live: 50, ratePerS: 200, steadyMs: 5_000, afterMs: 3_000, resumeDeadlineMs: 240_000, connectDeadlineMs: 300_000 };
}

interface StormResult {
  clients: number;
  cappedBy: string;
  resumeMs: number;
  resume: ResumeStatus;
  closeCodes: Record<string, number>;
  refusals: Record<string, number>;
  verify: VerifyResult;
  heads: number;
  ackSteadyMs?: Percentiles;
  ackStormMs?: Percentiles;
  sendSteady: Omit<SendResult, 'ackLatencies'>;
  sendStorm: Omit<SendResult, 'ackLatencies'>;
  nodeBCpuPercent: number;
}

const fdsFree = (pid: number) => openFilesLimit(pid) - readdirSync(`/proc/${pid}/fd`).length - FD_MARGIN;

async function sendPhase(gen: MemberGen, cidPrefix: string, ratePerS: number, during: () => Promise<void>): Promise<SendResult> {
  await gen.sendStart({ group: 'live', ratePerS, bodyBytes: 100, cidPrefix, maxMs: 600_000 });
  try {
    await during();
  } catch (err) {
    await gen.sendStop('live').catch(() => undefined);
    throw err;
  }
  return gen.sendStop('live');
}

/**
 * A reconnect storm: `clients` members in 200 rooms on node A, live users on node B sending
 * into those rooms at a fixed rate throughout. A is killed with SIGKILL; its clients reconnect
 * to B (full-jitter backoff) and rejoin every room with `since` and `epoch`. Measures the time
 * until the last one resumed, what B refused or closed meanwhile, the live users' send-to-ack
 * latency during the storm, and per client every seq lost or pushed twice, against the
 * rooms' heads once the senders stopped.
 */
async function measure(a: Server, b: Server, quick: boolean, tag: string): Promise<StormResult> {
  const s = sizes(quick);
  const room = Math.min(fdsFree(a.pid), fdsFree(b.pid) - s.live);
  const clients = Math.max(0, Math.min(s.target, room));
  const cappedBy = clients < s.target ? `a node's open-files limit (${openFilesLimit(a.pid)})` : 'none (target reached)';
  // The live users get a generator of their own: one that also reconnected thousands of storm
  // clients would read their acks late, and the latency measured would be its own. The storm's
  // generators run at a lower CPU priority: on one machine with the nodes, Redis and NATS, their
  // reconnect burst (20,000 WebSocket handshakes in half a second) would otherwise take the CPU
  // from the system they load, which in production runs on other machines than its clients.
  const [live] = await MemberGen.start(1, `${tag}-live`);
  if (!live) throw new Error('no generator started');
  const gens = await MemberGen.start(Math.max(2, Math.ceil(clients / PER_GENERATOR)), tag, STORM_GENERATOR_NICE).catch(async (err: unknown) => {
    await live.close();
    throw err;
  });
  try {
    const rooms = Array.from({ length: ROOMS }, (_, i) => `${tag}-r${i}`);
    const base = { rooms, localAddresses: sourceAddresses(4), batch: false, concurrency: 50, timeoutMs: 20_000, deadlineMs: s.connectDeadlineMs, sampleEvery: 0 };
    await connectGroup([live], s.live, { ...base, group: 'live', port: b.port, userPrefix: `${tag}-live`, roomsPerMember: Math.ceil(ROOMS / s.live), joinRooms: true, track: false }, 1);
    // A busy machine may not open them all in time: the storm runs with those that did (at
    // least a tenth), and the row says what capped the count.
    const connected = await connectGroup(gens, clients, { ...base, group: 'storm', port: a.port, failoverPort: b.port, userPrefix: `${tag}-c`, roomsPerMember: 1, joinRooms: true, track: true }, 0.1);
    const capped = connected < clients * 0.95 ? `the connect deadline (${s.connectDeadlineMs / 1000} s; ${clients} planned)` : cappedBy;
    const steady = await sendPhase(live, 'a', s.ratePerS, () => new Promise((r) => setTimeout(r, s.steadyMs)));
    let resume!: ResumeStatus[];
    let killedAt = 0;
    const cpu0 = cpuSeconds(b.pid);
    const t0 = performance.now();
    const storm = await sendPhase(live, 'b', s.ratePerS, async () => {
      killedAt = nowMs();
      process.kill(a.pid, 'SIGKILL');
      resume = await Promise.all(gens.map((g) => g.waitResumed('storm', s.resumeDeadlineMs)));
      await new Promise((r) => setTimeout(r, s.afterMs));
    });
    const nodeBCpuPercent = ((cpuSeconds(b.pid) - cpu0) / ((performance.now() - t0) / 1000)) * 100;
    const heads = await live.heads('live');
    const verified = await Promise.all(gens.map((g) => g.verify(heads, 60_000)));
    const status = await Promise.all(gens.map((g) => g.status()));
    const sum = (k: keyof VerifyResult) => verified.reduce((x, v) => x + v[k], 0);
    const merged: ResumeStatus = {
      members: resume.reduce((x, r) => x + r.members, 0),
      down: resume.reduce((x, r) => x + r.down, 0),
      resumed: resume.reduce((x, r) => x + r.resumed, 0),
      lastResumedAt: Math.max(...resume.map((r) => r.lastResumedAt)),
      reconnects: resume.reduce((x, r) => x + r.reconnects, 0),
      closeCodes: mergeCounts(resume.map((r) => r.closeCodes)),
      refusals: mergeCounts(resume.map((r) => r.refusals)),
    };
    const strip = ({ ackLatencies: _, ...rest }: SendResult) => rest;
    return {
      clients: connected,
      cappedBy: capped,
      resumeMs: merged.lastResumedAt - killedAt,
      resume: merged,
      closeCodes: mergeCounts(status.map((x) => x.closeCodes)),
      refusals: mergeCounts(status.map((x) => x.refusals)),
      verify: { tracks: sum('tracks'), behind: sum('behind'), lost: sum('lost'), membersLosing: sum('membersLosing'), pushDups: sum('pushDups'), overlaps: sum('overlaps'), resets: sum('resets') },
      heads: Object.values(heads).reduce((x, h) => x + h, 0),
      ...(steady.ackLatencies.length > 0 ? { ackSteadyMs: percentiles(steady.ackLatencies) } : {}),
      ...(storm.ackLatencies.length > 0 ? { ackStormMs: percentiles(storm.ackLatencies) } : {}),
      sendSteady: strip(steady),
      sendStorm: strip(storm),
      nodeBCpuPercent,
    };
  } finally {
    await Promise.allSettled([live, ...gens].map((g) => g.close()));
  }
}

async function twoNodes(services: Services, quick: boolean): Promise<StormResult> {
  const tag = 'storm';
  const prefix = benchPrefix(tag);
  const env = { REDIS_URL: services.redisUrl, NATS_URL: services.natsUrl, BUS: 'nats', KEY_PREFIX: prefix };
  const servers: Server[] = [];
  try {
    servers.push(await startServer('parley', `${tag}-a`, env));
    servers.push(await startServer('parley', `${tag}-b`, env));
    return await measure(servers[0]!, servers[1]!, quick, prefix);
  } finally {
    await stopAll(servers);
    await cleanupPrefix(services, prefix);
  }
}

export const storm: Scenario = {
  name: 'storm',
  async run(opts): Promise<ScenarioResult> {
    const found = await servicesOrNote('storm');
    if (!('services' in found)) return found;
    const s = sizes(opts.quick);
    const r = await twoNodes(found.services, opts.quick);
    const system = 'Parley, 2 nodes (Redis, NATS)';
    const v = r.verify;
    const p = (x?: Percentiles) => (x ? `${x.p50.toFixed(1)} / ${x.p99.toFixed(1)} / ${x.max.toFixed(1)}` : 'no samples');
    const rows: Row[] = [
      { system, metric: 'clients on node A', value: r.clients, unit: `of ${s.target} wanted, in ${ROOMS} rooms; capped by ${r.cappedBy}` },
      { system, metric: 'time until every client resumed on B', value: r.resume.down > 0 ? `not all: ${r.resume.down} still down` : Math.round(r.resumeMs), unit: r.resume.down > 0 ? '' : 'ms after kill -9' },
      { system, metric: 'reconnect attempts / resumed', value: `${r.resume.reconnects} / ${r.resume.resumed}`, unit: '' },
      { system, metric: 'refused upgrades', value: JSON.stringify(r.refusals), unit: 'by status (429 = admission)' },
      { system, metric: 'closes seen by clients', value: JSON.stringify(r.closeCodes), unit: 'by code (1006 = node A killed, 4029 = slow consumer)' },
      { system, metric: 'messages lost / pushed twice', value: `${v.lost} / ${v.pushDups}`, unit: `over ${v.tracks} client-rooms (${v.membersLosing} clients losing; ${v.behind} behind the head; ${v.resets} resets; ${v.overlaps} join/push overlaps)` },
      { system, metric: 'live users on B: send-to-ack p50 / p99 / max, steady', value: p(r.ackSteadyMs), unit: `ms (${s.live} users, ${s.ratePerS} msg/s)` },
      { system, metric: 'live users on B: send-to-ack p50 / p99 / max, storm', value: p(r.ackStormMs), unit: `ms (${r.sendStorm.acked} acked, ${r.sendStorm.errors} refused${r.sendStorm.firstError ? `: ${r.sendStorm.firstError}` : ''})` },
      { system, metric: 'node B CPU during the storm', value: r.nodeBCpuPercent, unit: '% of a core' },
    ];
    return {
      scenario: 'storm',
      rows,
      raw: { sizes: s, rooms: ROOMS, stormGeneratorNice: STORM_GENERATOR_NICE, result: r },
      ratios: [
        threshold(`storm: ms until all ${r.clients} clients resumed`, r.resume.down > 0 ? undefined : r.resumeMs, '<='),
        threshold('storm: messages lost', v.lost + v.behind, '<=', 0),
        threshold('storm: messages pushed twice', v.pushDups, '<=', 0),
        threshold('storm: 4029 slow-consumer closes', r.closeCodes['4029'] ?? 0, '<='),
        threshold('storm: 429 refusals', r.refusals['429'] ?? 0, '<='),
        threshold('storm: live users p99 send-to-ack during the storm, ms', r.ackStormMs?.p99, '<=', 50),
      ],
    };
  },
};
