import { expect } from 'vitest';
import WebSocket from 'ws';
import { connect } from '../../packages/client/src/index.js';
import type { ChatMessage, GapEvent, Hello, ParleyClient, WebSocketConstructor } from '../../packages/client/src/index.js';
import { spawnNode, type ProcessNode } from '../helpers/cluster.js';
import { requireRedis } from '../helpers/services.js';
import { startPrivateNats, type PrivateService } from '../helpers/services-private.js';

/** Shared by the multi-process failure tests (test/cluster/*.test.ts): SDK members, senders, checks. */

export const BUSES = ['nats', 'redis'] as const;
export type Bus = (typeof BUSES)[number];

/** Sends are paced by the tests, not by the rate limiter (a refused send would only be retried). */
export const GENEROUS_RATES = { RATE_PER_S: '500', RATE_BURST: '1000' };

/** Rejects with a message naming `what` if `promise` has not settled within `ms`. */
export function within<T>(promise: Promise<T>, what: string, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every 100 ms until it returns true; fails naming `what` after `ms`. */
export async function until(check: () => boolean | Promise<boolean>, what: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (let i = 0; i < ms / 100 + 1; i++) {
    if (await check()) return;
    if (Date.now() > deadline) break;
    await pause(100);
  }
  throw new Error(`timed out after ${ms} ms waiting until ${what}`);
}

/** 1..n. */
export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}

export interface BusServices {
  /** REDIS_URL, BUS, and NATS_URL for BUS=nats. */
  env: Record<string, string>;
  close(): Promise<void>;
}

/**
 * The services of a cluster on `bus`, Redis being the shared one (or `redisUrl`). BUS=nats gets a
 * private NATS: NATS_URL makes gateways keep a JetStream queue, and its streams (which reserve
 * their max size) go with the private server instead of piling up on the shared one. BUS=redis
 * sets no NATS_URL: Redis is the bus and the room state, the queue is in memory.
 */
export async function busServices(bus: Bus, redisUrl?: string): Promise<BusServices> {
  if (redisUrl === undefined) await requireRedis();
  const redis = { REDIS_URL: redisUrl ?? 'redis://127.0.0.1:6379', BUS: bus };
  if (bus === 'redis') return { env: redis, close: () => Promise.resolve() };
  const nats: PrivateService = await startPrivateNats();
  return { env: { ...redis, NATS_URL: nats.url }, close: () => nats.close() };
}

const SPAWN_ATTEMPTS = 3;

/**
 * Spawns gateway processes in parallel. A node that lost its free port to another socket before
 * it listened is spawned again (a free port is only free until someone binds it); if any node
 * still fails, the others are stopped and the error is thrown.
 */
export async function spawnNodes(ids: string[], env: Record<string, string>): Promise<ProcessNode[]> {
  const spawnOne = async (id: string): Promise<ProcessNode> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await spawnNode(id, env);
      } catch (err) {
        if (attempt >= SPAWN_ATTEMPTS || !/PORT in use|EADDRINUSE/.test(String(err))) throw err;
      }
    }
  };
  const results = await Promise.allSettled(ids.map(spawnOne));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  if (!failed) return started;
  await Promise.all(started.map((n) => n.close()));
  throw failed.reason;
}

export interface Readiness {
  status: number;
  checks: Record<string, string>;
}

/** `GET /readyz`; a node that does not answer is `status: 0`. */
export async function readyz(node: ProcessNode): Promise<Readiness> {
  try {
    const res = await fetch(`${node.httpUrl}/readyz`, { signal: AbortSignal.timeout(5_000) });
    const body = (await res.json()) as { checks?: Record<string, string> };
    return { status: res.status, checks: body.checks ?? {} };
  } catch {
    return { status: 0, checks: {} };
  }
}

/** Waits until every node's `/readyz` answers `status` (and, if given, the named check says `check`). */
export function untilReadiness(nodes: ProcessNode[], status: number, ms: number, check?: [string, 'ok' | 'down']): Promise<void> {
  let last: Readiness[] = [];
  return until(
    async () => {
      last = await Promise.all(nodes.map((n) => readyz(n)));
      return last.every((r) => r.status === status && (!check || r.checks[check[0]] === check[1]));
    },
    `readyz ${status}${check ? ` with ${check[0]} ${check[1]}` : ''} on every node (last: ${JSON.stringify(last)})`,
    ms,
  );
}

const open = new Set<ParleyClient>();

/**
 * An SDK client (`ws` as its WebSocket, reconnecting within milliseconds) in one room, recording
 * what the application sees: `msg` events, gaps, close codes and the node of every `hello`.
 */
export class Member {
  readonly client: ParleyClient;
  readonly msgs: ChatMessage[] = [];
  readonly gaps: GapEvent[] = [];
  readonly closeCodes: number[] = [];
  readonly hellos: Hello[] = [];
  readonly #waiters = new Set<() => void>();

  constructor(
    readonly user: string,
    readonly room: string,
    url: string,
    token: string,
  ) {
    this.client = connect(url, { token }, { WebSocket: WebSocket as unknown as WebSocketConstructor, backoff: { base: 50, cap: 500 } });
    open.add(this.client);
    this.client.on('msg', (m) => {
      if (m.room === room) this.msgs.push(m);
      this.#notify();
    });
    this.client.on('gap', (g) => this.gaps.push(g));
    this.client.on('close', (c) => {
      this.closeCodes.push(c.code);
      this.#notify();
    });
    this.client.on('hello', (h) => {
      this.hellos.push(h);
      this.#notify();
    });
  }

  /** Connects and joins `room`; resolves once joined. */
  static async join(user: string, room: string, url: string, token: string): Promise<Member> {
    const member = new Member(user, room, url, token);
    await within(member.client.join(room), `${user} joining ${room}`, 20_000);
    return member;
  }

  /** The node of the current (or last) connection. */
  get node(): string | undefined {
    return this.client.session?.node;
  }

  /** Resolves once `check` holds, re-checked on every event the member records. */
  when(check: () => boolean, what: string, ms: number): Promise<void> {
    return within(
      new Promise<void>((resolve) => {
        const test = (): void => {
          if (!check()) return;
          this.#waiters.delete(test);
          resolve();
        };
        this.#waiters.add(test);
        test();
      }),
      `${this.user}: ${what}`,
      ms,
    );
  }

  /** Resolves once the room holds at least `count` messages. */
  received(count: number, ms: number): Promise<void> {
    return this.when(() => this.msgs.length >= count, `${count} messages (have ${this.msgs.length})`, ms);
  }

  #notify(): void {
    for (const w of [...this.#waiters]) w();
  }
}

/** Closes every SDK client made by `Member`. */
export async function closeMembers(): Promise<void> {
  const all = [...open];
  open.clear();
  await Promise.all(all.map((c) => c.close()));
}

/**
 * Sends a member's messages at a steady pace without waiting for replies, so that sends keep
 * going through an outage (the SDK holds them in its outbox and resends with the same cid).
 */
export class Sender {
  /** cid -> acknowledged seq. */
  readonly acks = new Map<string, number>();
  #sent = 0;
  readonly #waiters = new Set<() => void>();

  /** Sends made so far, acknowledged or not. */
  get sent(): number {
    return this.#sent;
  }

  constructor(
    private readonly client: ParleyClient,
    private readonly room: string,
    private readonly name: string,
  ) {}

  /** Sends `count` messages, one every `paceMs`; resolves when all are acknowledged. */
  async run(count: number, paceMs: number, ackMs = 60_000): Promise<void> {
    const pending: Promise<void>[] = [];
    for (let k = 0; k < count; k++) {
      const cid = `${this.name}-${this.#sent++}`;
      const sent = this.client.send(this.room, `body of ${cid}`, undefined, { cid }).then((reply) => {
        this.acks.set(cid, reply.seq);
        for (const w of [...this.#waiters]) w();
      });
      pending.push(within(sent, `the ack of ${cid}`, ackMs));
      if (k < count - 1) await pause(paceMs);
    }
    await Promise.all(pending);
  }

  /** Resolves once at least `count` sends were acknowledged. */
  acked(count: number, ms: number): Promise<void> {
    return within(
      new Promise<void>((resolve) => {
        const test = (): void => {
          if (this.acks.size < count) return;
          this.#waiters.delete(test);
          resolve();
        };
        this.#waiters.add(test);
        test();
      }),
      `${count} acks for ${this.name} (have ${this.acks.size})`,
      ms,
    );
  }
}

/** Every sender's acks together: cid -> seq. */
export function allAcks(senders: Sender[]): Map<string, number> {
  const all = new Map<string, number>();
  for (const s of senders) for (const [cid, seq] of s.acks) all.set(cid, seq);
  return all;
}

/**
 * The acknowledged seqs are exactly 1..n (no gap, none given twice), and `received` is exactly
 * every acknowledged message once, in seq order, each with the cid its ack named.
 */
export function expectExactlyOnce(acks: Map<string, number>, received: { seq: number; cid: string }[], who: string): void {
  const n = acks.size;
  expect([...acks.values()].sort((a, b) => a - b), 'acknowledged seqs').toEqual(range(n));
  expect(received.map((m) => m.seq), `seqs received by ${who}`).toEqual(range(n));
  const cidOf = new Map([...acks].map(([cid, seq]) => [seq, cid]));
  expect(received.map((m) => m.cid), `cids received by ${who}`).toEqual(received.map((m) => cidOf.get(m.seq)));
}
