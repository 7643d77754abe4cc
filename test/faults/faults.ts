// The faults, each a function over the cluster that is safe at any moment and returns its heal
// step, and the seeded schedule that strings them together. Timings are bounded: a fault holds
// for at most some seconds, then is healed, and the run goes on.
import { NODE_TTL_S, WORKER_ACK_WAIT_MS, type FaultCluster, type GatewaySlot, type WorkerSlot } from './cluster.js';
import type { Proxy, ToxicSpec, ToxicStream } from '../helpers/toxiproxy.js';
import { between, pick, type Rng } from './random.js';

export const FAULT_KINDS = [
  'gateway-kill',
  'gateway-pause',
  'gateway-partition',
  'worker-kill',
  'worker-pause',
  'redis-snapshot',
  'redis-flush',
  'redis-down',
  'bus-cut',
  'jetstream-down',
  'mongo-down',
  'link-latency',
  'link-reset',
  'link-blackhole',
] as const;

export type FaultKind = (typeof FAULT_KINDS)[number];

/** How long each fault holds, ms: [min, max]. */
const HOLD_MS: Record<FaultKind, [number, number]> = {
  'gateway-kill': [1_000, 6_000],
  // Up to past NODE_TTL_S: the others reap the paused node, which must then count again.
  'gateway-pause': [1_000, NODE_TTL_S * 1000 + 4_000],
  // Cut off Redis and NATS while its clients stay connected, up to past NODE_TTL_S too.
  'gateway-partition': [1_000, NODE_TTL_S * 1000 + 4_000],
  'worker-kill': [1_000, 6_000],
  'worker-pause': [1_000, 8_000],
  // Traffic between the SAVE and the kill -9 is what the restarted Redis has forgotten.
  'redis-snapshot': [1_000, 4_000],
  'redis-flush': [0, 0],
  'redis-down': [1_000, 5_000],
  'bus-cut': [1_000, 6_000],
  'jetstream-down': [1_000, 6_000],
  // Longer than the worker's ack wait: held batches must survive it.
  'mongo-down': [WORKER_ACK_WAIT_MS + 1_000, WORKER_ACK_WAIT_MS + 8_000],
  'link-latency': [2_000, 8_000],
  'link-reset': [2_000, 6_000],
  'link-blackhole': [2_000, 6_000],
};

/** Faults of clustered services, injected by the tests that run a NATS or Redis cluster of their own. */
export type ServiceClusterFaultKind = 'nats-stream-leader-kill' | 'redis-primary-kill';

export interface ActiveFault {
  kind: FaultKind | ServiceClusterFaultKind;
  /** What it hit: a process slot, a link, or a service. */
  target: string;
  heal(): Promise<void>;
}

export interface ScheduledFault {
  kind: FaultKind;
  /** Quiet time before the fault. */
  gapMs: number;
  holdMs: number;
}

/** The faults of a run of `runMs`, from its seed: kinds drawn from `kinds`, with gaps of 1-4 s. */
export function planSchedule(rng: Rng, runMs: number, kinds: readonly FaultKind[] = FAULT_KINDS): ScheduledFault[] {
  const out: ScheduledFault[] = [];
  for (let total = 0; total < runMs && out.length < 10_000; ) {
    const kind = pick(rng, kinds);
    const step = { kind, gapMs: between(rng, 1_000, 4_000), holdMs: between(rng, ...HOLD_MS[kind]) };
    total += step.gapMs + step.holdMs;
    if (total <= runMs) out.push(step);
  }
  return out;
}

/** A hold drawn for `kind` (for tests that inject one fault). */
export function holdFor(rng: Rng, kind: FaultKind): number {
  return between(rng, ...HOLD_MS[kind]);
}

/** Starts `kind` on a target drawn with `rng`; the returned heal undoes it. */
export async function inject(cluster: FaultCluster, kind: FaultKind, rng: Rng): Promise<ActiveFault> {
  const fault = (target: string, heal: () => Promise<void>): ActiveFault => ({ kind, target, heal });
  switch (kind) {
    case 'gateway-kill':
    case 'worker-kill': {
      const slot = running<GatewaySlot | WorkerSlot>(rng, kind === 'gateway-kill' ? cluster.gateways : cluster.workers);
      await cluster.kill(slot);
      return fault(slot.id, () => cluster.start(slot));
    }
    case 'gateway-pause':
    case 'worker-pause': {
      const slot = running<GatewaySlot | WorkerSlot>(rng, kind === 'gateway-pause' ? cluster.gateways : cluster.workers);
      cluster.freeze(slot, true);
      return fault(slot.id, () => Promise.resolve(cluster.freeze(slot, false)));
    }
    case 'gateway-partition': {
      const slot = running(rng, cluster.gateways);
      const links = [slot.links.redis, slot.links.nats].flatMap((l) => (l ? [l] : []));
      await Promise.all(links.map((l) => l.disable()));
      return fault(slot.id, async () => void (await Promise.all(links.map((l) => l.enable()))));
    }
    case 'redis-snapshot': {
      await expectOk(cluster.redis.command('SAVE'), 'SAVE');
      return fault('redis', async () => {
        // kill -9 and start on the same dir: Redis loads the snapshot of the SAVE, an older copy.
        await cluster.redis.stop();
        await cluster.redis.start();
      });
    }
    case 'redis-flush':
      await expectOk(cluster.redis.command('FLUSHALL'), 'FLUSHALL');
      return fault('redis', () => Promise.resolve());
    case 'redis-down':
      // SHUTDOWN SAVE: an outage that loses nothing, unlike the snapshot fault.
      await cluster.redis.stop({ keepData: true });
      return fault('redis', () => cluster.redis.start());
    case 'bus-cut': {
      const slot = running(rng, cluster.gateways);
      const link = slot.links.nats;
      await link?.disable();
      return fault(`${slot.id}-nats`, async () => link?.enable());
    }
    case 'jetstream-down':
      await cluster.nats.stop();
      return fault('nats', () => cluster.nats.start());
    case 'mongo-down': {
      const links = cluster.workers.flatMap((w) => (w.links.mongo ? [w.links.mongo] : []));
      await Promise.all(links.map((l) => l.disable()));
      return fault('workers-mongo', async () => void (await Promise.all(links.map((l) => l.enable()))));
    }
    case 'link-latency': {
      const link = pick(rng, cluster.links());
      await link.addToxic({ type: 'latency', attributes: { latency: between(rng, 50, 800), jitter: between(rng, 0, 200) } }, { stream: pick(rng, ['upstream', 'downstream'] as const) });
      return fault(link.name, () => link.heal());
    }
    case 'link-reset': {
      const link = pick(rng, cluster.links());
      await link.addToxic({ type: 'reset_peer', attributes: { timeout: between(rng, 0, 2_000) } });
      return fault(link.name, () => link.heal());
    }
    case 'link-blackhole': {
      const link = pick(rng, cluster.links());
      await link.addToxic({ type: 'timeout', attributes: { timeout: 0 } }, { stream: pick(rng, ['upstream', 'downstream'] as const) });
      return fault(link.name, () => link.heal());
    }
  }
}

/** Toxics on chosen links (instead of one drawn at random), healed together. */
export async function onLinks(kind: 'link-latency' | 'link-reset' | 'link-blackhole', links: readonly Proxy[], spec: ToxicSpec, stream: ToxicStream = 'downstream'): Promise<ActiveFault> {
  await Promise.all(links.map((l) => l.addToxic(spec, { stream })));
  return { kind, target: links.map((l) => l.name).join('+'), heal: async () => void (await Promise.all(links.map((l) => l.heal()))) };
}

/** A slot whose process runs (so a kill or pause hits something); any slot if none does. */
function running<S extends GatewaySlot | WorkerSlot>(rng: Rng, slots: readonly S[]): S {
  const up = slots.filter((s) => ('node' in s ? s.node : s.worker) !== undefined && !s.paused);
  return pick(rng, up.length > 0 ? up : slots);
}

async function expectOk(reply: Promise<string>, what: string): Promise<void> {
  const line = await reply;
  if (line !== '+OK') throw new Error(`redis ${what} answered ${line}`);
}
