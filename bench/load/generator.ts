// A load-generator process: opens subscriber connections and (optionally) runs the publisher,
// driven over IPC by bench/lib/generators.ts. It never shares a process with a server.
import { mintToken } from '../../src/gateway/auth.js';
import { BenchClient, nowMs, withTimeout, type Kind } from '../lib/client.js';
import { percentiles, Samples } from '../lib/measure.js';

export interface Target {
  kind: Kind;
  port: number;
  /** Mint a real HS256 token per connection with this secret (Parley); otherwise a dummy one. */
  secret?: string;
}

export interface ConnectArgs {
  target: Target;
  count: number;
  /** Connection numbers start here (user names `<userPrefix><n>`, source addresses). */
  offset: number;
  userPrefix: string;
  room?: string;
  localAddresses: string[];
  /** Connect with `?batch=1` (array frames allowed). */
  batch?: boolean;
  concurrency: number;
  /** Every n-th connection samples latency (0: none). */
  sampleEvery: number;
  deadlineMs: number;
}

export interface PublishArgs {
  /** `max`: as fast as the window of unanswered sends allows; `rate`: `ratePerS` on a timer. */
  mode: 'max' | 'rate';
  window: number;
  ratePerS: number;
  bodyBytes: number;
  /** Hard stop, in case `stop` never comes. */
  maxMs: number;
}

type Command =
  | { id: number; op: 'connect'; args: ConnectArgs }
  | { id: number; op: 'publisher'; args: { target: Target; room: string; user: string } }
  | { id: number; op: 'publish-start'; args: PublishArgs }
  | { id: number; op: 'publish-stop' }
  | { id: number; op: 'count-start' }
  | { id: number; op: 'count-stop' }
  | { id: number; op: 'status' }
  | { id: number; op: 'close' };

const REQUEST_TIMEOUT_MS = 15_000;
const subscribers: BenchClient[] = [];
let closedByServer = 0;
let countBase = 0;
let samples = new Samples(300_000);
let sampling = false;
/** The publisher's send-to-reply times, taken between count-start and count-stop. */
let acks = new Samples(300_000);
let publisher: { client: BenchClient; room: string } | undefined;
let pubRun: { stop: () => void; done: Promise<unknown> } | undefined;

async function token(target: Target, user: string): Promise<string> {
  if (!target.secret) return 'bench';
  return (await mintToken(new TextEncoder().encode(target.secret), { user, ttlS: 3 * 3600, rooms: ['*'] })).token;
}

async function connectOne(args: ConnectArgs, n: number): Promise<BenchClient> {
  const client = await BenchClient.connect({
    kind: args.target.kind,
    port: args.target.port,
    token: await token(args.target, `${args.userPrefix}${n}`),
    localAddress: args.localAddresses[n % args.localAddresses.length]!,
    batch: args.batch === true,
    timeoutMs: REQUEST_TIMEOUT_MS,
    ...(args.sampleEvery > 0 && n % args.sampleEvery === 0 ? { onLatency: (ms: number) => sampling && samples.add(ms) } : {}),
    onClose: () => closedByServer++,
  });
  if (args.room !== undefined) {
    const reply = await withTimeout(client.request('join', { room: args.room }), REQUEST_TIMEOUT_MS, 'join');
    if (!reply.ok) throw new Error(`join refused: ${JSON.stringify(reply.error)}`);
  }
  return client;
}

/** Opens `count` connections, `concurrency` at a time, giving up at the deadline. */
async function connectMany(args: ConnectArgs): Promise<{ connected: number; failed: number; firstError?: string }> {
  const deadline = Date.now() + args.deadlineMs;
  let next = 0;
  let failed = 0;
  let firstError: string | undefined;
  const worker = async (): Promise<void> => {
    while (next < args.count && Date.now() < deadline) {
      const n = args.offset + next++;
      try {
        subscribers.push(await connectOne(args, n));
      } catch (err) {
        failed++;
        firstError ??= err instanceof Error ? err.message : String(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, args.concurrency) }, worker));
  failed += args.count - next;
  return { connected: args.count - failed, failed, ...(firstError ? { firstError } : {}) };
}

function counted(): number {
  let total = 0;
  for (const s of subscribers) total += s.counted;
  return total;
}

/** Runs the publisher until stopped; the body starts with the send time for latency samples. */
function publish(args: PublishArgs): { stop: () => void; done: Promise<unknown> } {
  const pub = publisher;
  if (!pub) throw new Error('no publisher: call publisher first');
  const pad = 'x'.repeat(args.bodyBytes);
  const body = (): string => {
    const stamp = `${nowMs().toFixed(3)}|`;
    return stamp + pad.slice(stamp.length);
  };
  let sent = 0;
  let acked = 0;
  let errors = 0;
  let firstError: string | undefined;
  let inflight = 0;
  let running = true;
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));
  const onReply = (reply: { ok: boolean; error?: { code: string } }): void => {
    inflight--;
    if (reply.ok) acked++;
    else {
      errors++;
      firstError ??= reply.error?.code ?? 'error';
    }
    if (args.mode === 'max') pump();
  };
  const sendOne = (): void => {
    inflight++;
    const at = nowMs();
    pub.client.send(pub.room, `p${sent++}`, body(), (reply) => {
      if (sampling) acks.add(nowMs() - at);
      onReply(reply);
    });
  };
  const pump = (): void => {
    while (running && inflight < args.window && pub.client.open) sendOne();
  };
  const started = nowMs();
  let timer: NodeJS.Timeout | undefined;
  if (args.mode === 'max') pump();
  else {
    timer = setInterval(() => {
      const due = Math.floor(((nowMs() - started) / 1000) * args.ratePerS) - sent;
      // A stalled server must not make the generator queue without bound.
      for (let i = 0; i < due && inflight < 50_000 && pub.client.open; i++) sendOne();
    }, 2);
  }
  const hard = setTimeout(() => stop(), args.maxMs);
  const stop = (): void => {
    running = false;
    if (timer) clearInterval(timer);
    clearTimeout(hard);
    finish();
  };
  return {
    stop,
    done: done.then(() => ({ sent, acked, errors, inflight, firstError, elapsedMs: nowMs() - started, ...(acks.values().length > 0 ? { ackMs: percentiles(acks.values()) } : {}) })),
  };
}

async function handle(cmd: Command): Promise<unknown> {
  switch (cmd.op) {
    case 'connect':
      return connectMany(cmd.args);
    case 'publisher': {
      const { target, room, user } = cmd.args;
      const client = await BenchClient.connect({ kind: target.kind, port: target.port, token: await token(target, user), timeoutMs: REQUEST_TIMEOUT_MS });
      const reply = await withTimeout(client.request('join', { room }), REQUEST_TIMEOUT_MS, 'publisher join');
      if (!reply.ok) throw new Error(`publisher join refused: ${JSON.stringify(reply.error)}`);
      publisher = { client, room };
      return {};
    }
    case 'publish-start':
      pubRun = publish(cmd.args);
      return {};
    case 'publish-stop': {
      if (!pubRun) return {};
      pubRun.stop();
      return pubRun.done;
    }
    case 'count-start':
      countBase = counted();
      samples = new Samples(300_000);
      acks = new Samples(300_000);
      sampling = true;
      return { at: nowMs() };
    case 'count-stop':
      sampling = false;
      return { received: counted() - countBase, at: nowMs(), latencies: samples.values() };
    case 'status':
      return { open: subscribers.filter((s) => s.open).length, closedByServer };
    case 'close':
      for (const s of subscribers) s.close();
      publisher?.client.close();
      setTimeout(() => process.exit(0), 200);
      return {};
  }
}

process.on('message', (cmd: Command) => {
  handle(cmd).then(
    (result) => process.send?.({ id: cmd.id, ok: true, result }),
    (err: unknown) => process.send?.({ id: cmd.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
  );
});
process.on('disconnect', () => process.exit(0));
process.send?.({ id: 0, ok: true, result: 'ready' });
