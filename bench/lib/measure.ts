import { readFileSync } from 'node:fs';
import type { ServerKind } from './children.js';

/** A bounded sample: keeps every value up to `max`, then a uniform reservoir of them. */
export class Samples {
  private readonly data: number[] = [];
  private seen = 0;

  constructor(private readonly max: number) {}

  add(v: number): void {
    this.seen++;
    if (this.data.length < this.max) this.data.push(v);
    else {
      const at = Math.floor(Math.random() * this.seen);
      if (at < this.max) this.data[at] = v;
    }
  }

  values(): number[] {
    return this.data;
  }
}

export interface Percentiles {
  count: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

export function percentiles(values: readonly number[]): Percentiles {
  const sorted = Float64Array.from(values).sort();
  const at = (q: number): number => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), p999: at(0.999), max: at(1) };
}

const CLK_TCK = 100;
const GC_SETTLE_MS = 1_000;

/** utime + stime of a process, in seconds, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** CPU use of `pid` over `ms`, in percent of one core. */
export async function cpuPercent(pid: number, ms: number): Promise<number> {
  const before = cpuSeconds(pid);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const spent = cpuSeconds(pid) - before;
  return (spent / ((performance.now() - t0) / 1000)) * 100;
}

export interface Memory {
  rss: number;
  heapUsed: number;
}

/**
 * Memory as the server process reports it (GET /mem for the baselines, /metrics for Parley),
 * read after a full GC that SIGUSR2 triggers in every benchmarked server (bench/servers/preload.ts).
 */
export async function serverMemory(kind: ServerKind, port: number, pid: number): Promise<Memory> {
  process.kill(pid, 'SIGUSR2');
  await new Promise((r) => setTimeout(r, GC_SETTLE_MS));
  if (kind !== 'parley') {
    const m = (await (await fetch(`http://127.0.0.1:${port}/mem`, { signal: AbortSignal.timeout(10_000) })).json()) as NodeJS.MemoryUsage;
    return { rss: m.rss, heapUsed: m.heapUsed };
  }
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  return { rss: metric(text, 'parley_process_resident_memory_bytes'), heapUsed: metric(text, 'parley_nodejs_heap_size_used_bytes') };
}

function metric(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  if (!line) throw new Error(`/metrics has no ${name}`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Rounds for the printed table and the JSON file. */
export function round(v: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
