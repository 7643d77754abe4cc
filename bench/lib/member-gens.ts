import { readFileSync } from 'node:fs';
import { BENCH_SECRET } from './children.js';
import { startGenerators, type Generator } from './generators.js';
import { percentiles, type Percentiles } from './measure.js';

/** Connections of one group in one generator (bench/load/members.ts). */
export interface ConnectMembersArgs {
  group: string;
  port: number;
  secret: string;
  count: number;
  /** Connection numbers start here: user `<userPrefix><n>`, rooms, source address. */
  offset: number;
  userPrefix: string;
  /** Member n is in rooms[(n * roomsPerMember + j) % rooms.length] for j < roomsPerMember. */
  rooms: string[];
  roomsPerMember: number;
  /** Join the rooms on connect (churn connections do not). */
  joinRooms: boolean;
  localAddresses: string[];
  batch: boolean;
  /** Keep every seq per room for the loss and duplicate check. */
  track: boolean;
  /** Every n-th member samples send-to-receive latency (0: none). */
  sampleEvery: number;
  /** When a connection is lost, reconnect here and resume with since and epoch. */
  failoverPort?: number;
  concurrency: number;
  timeoutMs: number;
  deadlineMs: number;
}

export interface SendArgs {
  group: string;
  ratePerS: number;
  bodyBytes: number;
  cidPrefix: string;
  maxMs: number;
}

export interface ChurnArgs {
  group: string;
  room: string;
  ratePerS: number;
  maxMs: number;
}

export interface SendResult {
  sent: number;
  acked: number;
  errors: number;
  inflight: number;
  firstError?: string;
  elapsedMs: number;
  ackLatencies: number[];
}

export interface CountResult {
  at: number;
  msgs: number;
  presence: number;
  latencies?: number[];
}

/** 127.0.0.2 and up: source addresses, so tens of thousands of sockets do not run out of ephemeral ports. */
export function sourceAddresses(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `127.0.0.${i + 2}`);
}

/** The soft open-files limit of a running process, from /proc/<pid>/limits. */
export function openFilesLimit(pid: number): number {
  const line = readFileSync(`/proc/${pid}/limits`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const soft = Number(line?.split(/\s{2,}/)[1]);
  if (!Number.isFinite(soft)) throw new Error(`cannot read the open-files limit of ${pid}`);
  return soft;
}

/** The parent's handle on one bench/load/members.ts process. */
export class MemberGen {
  constructor(readonly gen: Generator) {}

  /** `nice`: the generators' CPU priority is lowered by that much (see the storm scenario). */
  static async start(n: number, tag: string, nice?: number): Promise<MemberGen[]> {
    return (await startGenerators(n, tag, 'bench/load/members.ts', nice)).map((g) => new MemberGen(g));
  }

  get pid(): number {
    return this.gen.proc.pid;
  }

  connect(args: Omit<ConnectMembersArgs, 'secret'>): Promise<{ connected: number; failed: number; firstError?: string }> {
    return this.gen.call('connect', { secret: BENCH_SECRET, ...args }, args.deadlineMs + 30_000);
  }

  sendStart(args: SendArgs): Promise<void> {
    return this.gen.call('send-start', args, 10_000);
  }

  sendStop(group: string): Promise<SendResult> {
    return this.gen.call('send-stop', { group }, 30_000);
  }

  churnStart(args: ChurnArgs): Promise<void> {
    return this.gen.call('churn-start', args, 10_000);
  }

  churnStop(group: string): Promise<{ ops: number; errors: number; firstError?: string; elapsedMs: number }> {
    return this.gen.call('churn-stop', { group }, 30_000);
  }

  /** Starts counting pushes (of `group`'s members, or all) and sampling latency. */
  countStart(group?: string): Promise<CountResult> {
    return this.gen.call('count-start', { group }, 10_000);
  }

  countStop(group?: string): Promise<CountResult> {
    return this.gen.call('count-stop', { group }, 30_000);
  }

  /** Resolves once every member of `group` lost its connection and resumed (or at the deadline). */
  waitResumed(group: string, deadlineMs: number): Promise<ResumeStatus> {
    return this.gen.call('wait-resumed', { group, deadlineMs }, deadlineMs + 10_000);
  }

  heads(group: string): Promise<Record<string, number>> {
    return this.gen.call('heads', { group }, 60_000);
  }

  verify(heads: Record<string, number>, deadlineMs: number): Promise<VerifyResult> {
    return this.gen.call('verify', { heads, deadlineMs }, deadlineMs + 30_000);
  }

  status(): Promise<{ open: number; closeCodes: Record<string, number>; refusals: Record<string, number> }> {
    return this.gen.call('status', undefined, 10_000);
  }

  close(): Promise<void> {
    return this.gen.close();
  }
}

export interface ResumeStatus {
  members: number;
  down: number;
  resumed: number;
  lastResumedAt: number;
  reconnects: number;
  closeCodes: Record<string, number>;
  refusals: Record<string, number>;
}

export interface VerifyResult {
  tracks: number;
  behind: number;
  lost: number;
  membersLosing: number;
  pushDups: number;
  overlaps: number;
  resets: number;
}

/** Splits `count` connections over the generators: [offset, count] per generator. */
export function split(count: number, parts: number, base = 0): { offset: number; count: number }[] {
  const per = Math.ceil(count / parts);
  return Array.from({ length: parts }, (_, i) => ({ offset: base + i * per, count: Math.max(0, Math.min(per, count - i * per)) }));
}

/** Connects a group over all generators; throws when fewer than `min` (a share) connected. */
export async function connectGroup(gens: MemberGen[], count: number, base: Omit<ConnectMembersArgs, 'secret' | 'count' | 'offset'>, min = 0.95, firstOffset = 0): Promise<number> {
  const parts = split(count, gens.length, firstOffset);
  const none = Promise.resolve<{ connected: number; failed: number; firstError?: string }>({ connected: 0, failed: 0 });
  const results = await Promise.all(gens.map((g, i) => (parts[i]!.count > 0 ? g.connect({ ...base, ...parts[i]! }) : none)));
  const connected = results.reduce((s, r) => s + r.connected, 0);
  if (connected < count * min) {
    throw new Error(`${base.group}: only ${connected} of ${count} connected: ${results.find((r) => r.firstError)?.firstError ?? ''}`);
  }
  return connected;
}

/** Sums counters over generators; merges latency samples. */
export function sumCounts(starts: CountResult[], stops: CountResult[]): { msgs: number; presence: number; seconds: number; latencyMs?: Percentiles } {
  const msgs = stops.reduce((s, x, i) => s + x.msgs - starts[i]!.msgs, 0);
  const presence = stops.reduce((s, x, i) => s + x.presence - starts[i]!.presence, 0);
  const seconds = stops.reduce((s, x, i) => s + (x.at - starts[i]!.at) / 1000, 0) / Math.max(1, stops.length);
  const lat = stops.flatMap((s) => s.latencies ?? []);
  return { msgs, presence, seconds, ...(lat.length > 0 ? { latencyMs: percentiles(lat) } : {}) };
}

export function mergeCounts(maps: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of maps) for (const [k, v] of Object.entries(m)) out[k] = (out[k] ?? 0) + v;
  return out;
}
