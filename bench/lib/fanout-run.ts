import type { Kind } from './client.js';
import { LOCAL_ADDRESSES, startGenerators, type Generator, type PublishResult } from './generators.js';
import { cpuSeconds, percentiles, type Percentiles } from './measure.js';

export interface FanoutPlan {
  tag: string;
  kind: Kind;
  /** Mint real tokens with this secret (Parley). */
  secret?: string;
  /** Subscribers ask for batched frames (`/ws?batch=1`). */
  batch?: boolean;
  subscribers: number;
  /** Subscribers are split evenly over these ports (one per node); the publisher uses the first. */
  ports: number[];
  gens: number;
  warmupMs: number;
  durationMs: number;
  /** `max`: full speed with `window` unanswered sends; `rate`: `ratePerS` messages per second. */
  mode: 'max' | 'rate';
  window: number;
  ratePerS?: number;
  bodyBytes: number;
  /** Every n-th subscriber samples latency (0: none). */
  sampleEvery: number;
  /** Server processes whose CPU use is reported for the measured window. */
  serverPids: number[];
}

export interface FanoutResult {
  subscribers: number;
  deliveriesPerS: number;
  /** Acknowledged sends per second during the whole publishing time. */
  messagesPerS: number;
  publish: PublishResult;
  latencyMs?: Percentiles;
  closedByServer: number;
  /** Deliveries per CPU-second the servers spent: less sensitive to a busy machine than per second. */
  deliveriesPerCpuS: number;
  /** CPU use during the measured window, in percent of one core: tells which side was the limit. */
  cpuPercent: { servers: number[]; generators: number[] };
}

const CONNECT_CONCURRENCY = 50;
const CONNECT_DEADLINE_MS = 120_000;
const MIN_CONNECTED = 0.95;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One fan-out measurement: subscribers connect and join one room, one publisher sends, and the
 * subscribers count `msg` frames during `durationMs` after a warm-up. Deliveries per second is
 * the sum over the generators of what each counted in its own window.
 */
export async function runFanout(plan: FanoutPlan): Promise<FanoutResult> {
  const gens = await startGenerators(plan.gens, plan.tag);
  try {
    return await measure(plan, gens);
  } finally {
    await Promise.allSettled(gens.map((g) => g.close()));
  }
}

async function measure(plan: FanoutPlan, gens: Generator[]): Promise<FanoutResult> {
  const room = `bench-${plan.tag}`;
  const target = (port: number) => ({ kind: plan.kind, port, ...(plan.secret ? { secret: plan.secret } : {}) });
  const perGen = Math.ceil(plan.subscribers / gens.length);
  const connected = await Promise.all(
    gens.map(async (g, gi) => {
      const count = Math.max(0, Math.min(perGen, plan.subscribers - gi * perGen));
      let ok = 0;
      let firstError: string | undefined;
      let offset = gi * perGen;
      // This generator's share, split evenly over the nodes.
      for (let pi = 0; pi < plan.ports.length; pi++) {
        const share = Math.floor(count / plan.ports.length) + (pi < count % plan.ports.length ? 1 : 0);
        const r = await g.connect({
          target: target(plan.ports[pi]!),
          count: share,
          offset,
          userPrefix: `${plan.tag}-sub-`,
          room,
          localAddresses: LOCAL_ADDRESSES,
          batch: plan.batch === true,
          concurrency: CONNECT_CONCURRENCY,
          sampleEvery: plan.sampleEvery,
          deadlineMs: CONNECT_DEADLINE_MS,
        });
        offset += share;
        ok += r.connected;
        firstError ??= r.firstError;
      }
      return { ok, firstError };
    }),
  );
  const subscribers = connected.reduce((s, c) => s + c.ok, 0);
  if (subscribers < plan.subscribers * MIN_CONNECTED) {
    throw new Error(`only ${subscribers} of ${plan.subscribers} subscribers connected: ${connected.find((c) => c.firstError)?.firstError}`);
  }
  const pubGen = gens[0]!;
  await pubGen.publisher(target(plan.ports[0]!), room, `${plan.tag}-publisher`);
  await pubGen.publishStart({
    mode: plan.mode,
    window: plan.window,
    ratePerS: plan.ratePerS ?? 0,
    bodyBytes: plan.bodyBytes,
    maxMs: plan.warmupMs + plan.durationMs + 30_000,
  });
  let publish: PublishResult | undefined;
  try {
    await sleep(plan.warmupMs);
    const pids = [...plan.serverPids, ...gens.map((g) => g.proc.pid)];
    const cpuBefore = pids.map(cpuSeconds);
    const t0 = performance.now();
    const starts = await Promise.all(gens.map((g) => g.countStart()));
    await sleep(plan.durationMs);
    const stops = await Promise.all(gens.map((g) => g.countStop()));
    const seconds = (performance.now() - t0) / 1000;
    const spent = pids.map((pid, i) => cpuSeconds(pid) - cpuBefore[i]!);
    const cpu = spent.map((s) => Math.round((s / seconds) * 100));
    const serverCpuS = spent.slice(0, plan.serverPids.length).reduce((a, b) => a + b, 0);
    publish = await pubGen.publishStop();
    const deliveriesPerS = stops.reduce((sum, s, i) => sum + s.received / ((s.at - starts[i]!.at) / 1000), 0);
    const status = await Promise.all(gens.map((g) => g.status()));
    const latencies = stops.flatMap((s) => s.latencies);
    return {
      subscribers,
      deliveriesPerS,
      messagesPerS: publish.acked / (publish.elapsedMs / 1000),
      publish,
      ...(latencies.length > 0 ? { latencyMs: percentiles(latencies) } : {}),
      closedByServer: status.reduce((s, x) => s + x.closedByServer, 0),
      deliveriesPerCpuS: stops.reduce((sum, s) => sum + s.received, 0) / Math.max(serverCpuS, 0.01),
      cpuPercent: { servers: cpu.slice(0, plan.serverPids.length), generators: cpu.slice(plan.serverPids.length) },
    };
  } finally {
    if (!publish) await pubGen.publishStop().catch(() => undefined);
  }
}
