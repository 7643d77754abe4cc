// The clients of a fault run and what they do: each sends new messages to its rooms at a
// seeded pace, now and then resends one it already got acknowledged (it must come back
// `dup: true` with its first seq), and now and then gives up on a send after one failure (the
// servers must finish such a message by themselves). Every operation lands in one log.
import { mintToken } from '../../src/gateway/auth.js';
import { TEST_SECRET } from '../helpers/node.js';
import type { FaultCluster } from './cluster.js';
import type { Operation } from './history.js';
import { between, chance, fork, pick, type Rng } from './random.js';
import { RecordingClient, type ClientPlan, type SendResult } from './recording-client.js';

export interface WorkloadOptions {
  clients: ClientPlan[];
  /** Pause between two sends of one client, ms. */
  paceMs: [number, number];
  /** Share of sends that repeat an acknowledged one (same cid and body). */
  resendRate: number;
  /** Share of new sends given up after their first failure. */
  abandonRate: number;
  /**
   * Share of new sends that reuse the cid of one acknowledged more than `reuseAfterMs` ago
   * (past DEDUPE_TTL_S: a new message, with a new body). Keep `resendRate` 0 then: a resend
   * that late is a new message too.
   */
  reuse?: { rate: number; afterMs: number };
  /** Body size in bytes (at least the cid). */
  bodyBytes?: number;
}

const SECRET = new TextEncoder().encode(TEST_SECRET);

interface Sent {
  room: string;
  cid: string;
  body: string;
  /** When it was acknowledged. */
  at: number;
}

/**
 * Users u1..u<users>, clients c1..c<count> spread over them (so some users have two devices),
 * every client in `rooms`. Odd clients give a silent server 3 s, even ones 20 s: a paused
 * gateway keeps some of its connections through the pause, and loses others.
 */
export function plans(count: number, users: number, rooms: string[], token: { ttlS: number; renew: boolean } = { ttlS: 3600, renew: true }): ClientPlan[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `c${i + 1}`,
    user: `u${(i % users) + 1}`,
    rooms,
    tokenTtlS: token.ttlS,
    renew: token.renew,
    patienceMs: i % 2 === 0 ? 3_000 : 20_000,
  }));
}

export class Workload {
  readonly ops: Operation[] = [];
  readonly clients: RecordingClient[];
  private sending = false;
  private loops: Promise<void>[] = [];
  private readonly rngs = new Map<RecordingClient, Rng>();
  private readonly acked = new Map<RecordingClient, Sent[]>();
  private counter = 0;
  /** When each (room, cid) was last acknowledged. */
  private readonly lastUse = new Map<string, number>();

  constructor(
    private readonly cluster: FaultCluster,
    seed: number,
    private readonly opts: WorkloadOptions,
  ) {
    this.clients = opts.clients.map((plan) => this.client(plan, fork(seed, `client ${plan.id}`)));
  }

  /** A client recording into this workload's log (also for clients a test adds later). */
  client(plan: ClientPlan, rng: Rng): RecordingClient {
    const client = new RecordingClient(plan, {
      gatewayUrl: (r) => this.cluster.gatewayUrl(r),
      token: async (user, ttlS) => (await mintToken(SECRET, { user, ttlS, rooms: ['*'] })).token,
      record: (op) => this.ops.push(op),
      rng,
    });
    this.rngs.set(client, rng);
    return client;
  }

  /** Connects every client; resolves once all are ready (joined everywhere) or after `ms`. */
  async connect(ms = 30_000): Promise<void> {
    this.clients.forEach((c) => c.start());
    await this.untilReady(ms);
  }

  /** Starts the clients' send loops. */
  startSending(): void {
    this.sending = true;
    this.loops = this.clients.map((c) => this.sendLoop(c));
  }

  /**
   * Stops starting sends; a send in progress keeps retrying until acknowledged or `ms` from now
   * (then it stays unacknowledged, and the checker reports it).
   */
  async stopSending(ms: number): Promise<void> {
    this.sending = false;
    const deadline = Date.now() + ms;
    this.clients.forEach((c) => c.finishSendsBy(deadline));
    await Promise.all(this.loops);
  }

  /** One new message from `client` to `room`, retried until acknowledged (or given up, with `abandon`). */
  send(client: RecordingClient, room: string, opts: { abandon?: boolean; cid?: string } = {}): Promise<SendResult> {
    const n = ++this.counter;
    const cid = opts.cid ?? `${client.plan.id}-${n}`;
    const body = this.body(`${cid} #${n}`);
    return client.send(room, cid, body, opts.abandon ? { abandon: true } : {}).then((r) => {
      if (r === 'acked') {
        this.ackedOf(client).push({ room, cid, body, at: Date.now() });
        this.lastUse.set(`${room}\u0000${cid}`, Date.now());
      }
      return r;
    });
  }

  async untilReady(ms: number): Promise<boolean> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (this.clients.every((c) => c.ready)) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  }

  /** Per room, user -> clients connected and joined: what presence must show. */
  expectedPresence(): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const c of this.clients) {
      for (const room of c.plan.rooms) {
        const users = (out[room] ??= {});
        if (c.ready) users[c.plan.user] = (users[c.plan.user] ?? 0) + 1;
      }
    }
    return out;
  }

  rooms(): string[] {
    return [...new Set(this.clients.flatMap((c) => c.plan.rooms))];
  }

  async close(): Promise<void> {
    this.sending = false;
    await Promise.all(this.clients.map((c) => c.stop()));
    await Promise.all(this.loops);
  }

  private async sendLoop(client: RecordingClient): Promise<void> {
    const rng = this.rngs.get(client) ?? Math.random;
    while (this.sending) {
      await new Promise((r) => setTimeout(r, between(rng, ...this.opts.paceMs)));
      if (!this.sending) break;
      const done = this.ackedOf(client);
      if (done.length > 0 && chance(rng, this.opts.resendRate)) {
        const again = pick(rng, done.slice(-20));
        await client.send(again.room, again.cid, again.body);
        continue;
      }
      const reuse = this.opts.reuse;
      // Only a cid whose latest use is past the window: a second reuse within it is a resend.
      const old = reuse && chance(rng, reuse.rate) ? done.filter((d) => (this.lastUse.get(`${d.room}\u0000${d.cid}`) ?? 0) < Date.now() - reuse.afterMs) : [];
      if (old.length > 0) {
        const again = pick(rng, old.slice(-20));
        await this.send(client, again.room, { cid: again.cid });
        continue;
      }
      await this.send(client, pick(rng, client.plan.rooms), { abandon: chance(rng, this.opts.abandonRate) });
    }
  }

  private ackedOf(client: RecordingClient): Sent[] {
    let list = this.acked.get(client);
    if (!list) this.acked.set(client, (list = []));
    return list;
  }

  /** `message <label>`, padded to the body size; the label makes a reused cid's body new. */
  private body(label: string): string {
    const text = `message ${label}`;
    const size = this.opts.bodyBytes ?? 0;
    return size > text.length ? `${text} ${'x'.repeat(size - text.length - 1)}` : text;
  }
}
