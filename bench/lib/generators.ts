import type { ConnectArgs, PublishArgs, Target } from '../load/generator.js';
import { spawnTs, type Proc } from './children.js';
import type { Percentiles } from './measure.js';

const START_DEADLINE_MS = 30_000;
/** Local addresses connections are spread over, so 10,000 of them do not exhaust one address's ephemeral ports. */
export const LOCAL_ADDRESSES = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'];

export interface PublishResult {
  sent: number;
  acked: number;
  errors: number;
  inflight: number;
  firstError?: string;
  elapsedMs: number;
  /** Send-to-reply times of the sends answered between count-start and count-stop. */
  ackMs?: Percentiles;
}

/** The bench's handle on one load-generator child process (bench/load/generator.ts). */
export class Generator {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();

  private constructor(readonly proc: Proc) {
    proc.child.on('message', (m: { id: number; ok: boolean; result?: unknown; error?: string }) => {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      clearTimeout(w.timer);
      if (m.ok) w.resolve(m.result);
      else w.reject(new Error(`${proc.name}: ${m.error}`));
    });
    void proc.exited.then((code) => {
      for (const w of this.waiting.values()) {
        clearTimeout(w.timer);
        w.reject(new Error(`${proc.name} exited (${code}):\n${proc.output.join('\n')}`));
      }
      this.waiting.clear();
    });
  }

  /** `script`: the generator program (bench/load/members.ts speaks its own commands). */
  static async start(name: string, script = 'bench/load/generator.ts', nice?: number): Promise<Generator> {
    const proc = spawnTs(name, script, {}, { ipc: true, ...(nice ? { nice } : {}) });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not start within ${START_DEADLINE_MS} ms`)), START_DEADLINE_MS);
      proc.child.once('message', () => {
        clearTimeout(timer);
        resolve();
      });
      void proc.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited (${code}) at start:\n${proc.output.join('\n')}`));
      });
    });
    return new Generator(proc);
  }

  /** One command over IPC; rejects when no answer came within `timeoutMs`. */
  call<T>(op: string, args: unknown, timeoutMs: number): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`${this.proc.name}: ${op} took over ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.proc.child.send({ id, op, args });
    });
  }

  connect(args: ConnectArgs): Promise<{ connected: number; failed: number; firstError?: string }> {
    return this.call('connect', args, args.deadlineMs + 20_000);
  }

  publisher(target: Target, room: string, user: string): Promise<void> {
    return this.call('publisher', { target, room, user }, 20_000);
  }

  publishStart(args: PublishArgs): Promise<void> {
    return this.call('publish-start', args, 10_000);
  }

  publishStop(): Promise<PublishResult> {
    return this.call('publish-stop', undefined, 20_000);
  }

  countStart(): Promise<{ at: number }> {
    return this.call('count-start', undefined, 10_000);
  }

  countStop(): Promise<{ received: number; at: number; latencies: number[] }> {
    return this.call('count-stop', undefined, 20_000);
  }

  status(): Promise<{ open: number; closedByServer: number }> {
    return this.call('status', undefined, 10_000);
  }

  async close(): Promise<void> {
    await this.call('close', undefined, 5_000).catch(() => undefined);
    await this.proc.stop();
  }
}

/** Starts `n` generators; on failure the started ones are closed. */
export async function startGenerators(n: number, tag: string, script?: string, nice?: number): Promise<Generator[]> {
  const settled = await Promise.allSettled(Array.from({ length: n }, (_, i) => Generator.start(`${tag}-gen${i}`, script, nice)));
  const gens = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await Promise.allSettled(gens.map((g) => g.close()));
    throw failed.reason;
  }
  return gens;
}
