// Members of one room on several gateway processes, each making messages, replies, edits,
// deletes, reactions and removed reactions at random, concurrently, and recording for the history
// checker (test/faults/history.ts) every request it got an event for and every push it got. The
// checker sees messages and changes alike, as events of the room's sequence: a message's body is
// `message` (its stored copy changes with edits), a change's is `op:target:reaction`.
import { applyChange, applyReply } from '../../packages/client/src/summaries.js';
import type { Change } from '../../packages/client/src/change-types.js';
import type { ChatMessage } from '../../packages/client/src/types.js';
import type { Operation, SeenMessage } from '../faults/history.js';
import { between, chance, pick, type Rng } from '../faults/random.js';
import type { TestClient } from '../helpers/clients.js';

export const REACTIONS = ['👍', 'ok', 'a.b$c'];

/** What the checker compares of an event: its seq, identity and ts, with a body that does not change. */
export function seen(e: { seq: number; cid: string; from: string; ts: number; op?: string; target?: number; reaction?: string }): SeenMessage {
  const body = e.op === undefined ? 'message' : `${e.op}:${e.target ?? 0}:${e.reaction ?? ''}`;
  return { seq: e.seq, cid: e.cid, from: e.from, body, ts: e.ts };
}

interface Acked {
  t: string;
  payload: Record<string, unknown>;
  seq: number;
}

/** One member: a client of one user on one node, in one room. */
export class ChangeMember {
  /** Requests answered with an event (first answers, and resends of the same cid), for the checker. */
  readonly sends: Operation[] = [];
  private readonly acked: Acked[] = [];
  private counter = 0;

  constructor(
    readonly id: string,
    readonly user: string,
    readonly c: TestClient,
    readonly room: string,
    private readonly rng: Rng,
  ) {}

  /** `ops` operations, each after a pause of `paceMs`. */
  async run(ops: number, paceMs: [number, number], held: () => ChatMessage[]): Promise<void> {
    for (let i = 0; i < ops; i++) {
      await new Promise((resolve) => setTimeout(resolve, between(this.rng, ...paceMs)));
      await this.step(held());
    }
  }

  /** The messages as this member folded them from its pushes, by seq. */
  folded(): Map<number, ChatMessage> {
    const out = new Map<number, ChatMessage>();
    for (const f of this.c.pushes) {
      if (f['room'] !== this.room) continue;
      const { t, ...rest } = f;
      if (t === 'msg') {
        const m = rest as unknown as ChatMessage;
        out.set(m.seq, m);
        const parent = m.parent === undefined ? undefined : out.get(m.parent);
        if (parent) out.set(parent.seq, applyReply(parent, m));
      } else if (t === 'change') {
        const c = rest as unknown as Change;
        const m = out.get(c.target);
        if (m) out.set(m.seq, applyChange(m, c));
      }
    }
    return out;
  }

  /** The member's pushes of the room as the checker's operations. */
  pushes(conn: number): Operation[] {
    return this.c.pushes
      .filter((f) => (f.t === 'msg' || f.t === 'change') && f['room'] === this.room)
      .map((f, i) => ({ op: 'msg', client: this.id, conn, at: i, room: this.room, message: seen(f as unknown as ChatMessage & Change) }));
  }

  private async step(held: ChatMessage[]): Promise<void> {
    const mine = held.filter((m) => m.from === this.user && !m.deleted);
    const live = held.filter((m) => !m.deleted);
    const roll = this.rng();
    if (roll < 0.1 && this.acked.length > 0) return this.resend(pick(this.rng, this.acked));
    if (roll < 0.35 || live.length === 0) {
      const parent = live.length > 0 && chance(this.rng, 0.25) ? pick(this.rng, live).seq : undefined;
      return this.request('send', { body: `from ${this.id}`, ...(parent !== undefined ? { parent } : {}) });
    }
    // Reactions crowd on a few hot messages: many users per reaction, kinds at their limit.
    const hot = chance(this.rng, 0.7) ? live.slice(0, 3) : live;
    if (roll < 0.65) return this.request('react', { target: pick(this.rng, hot).seq, reaction: pick(this.rng, REACTIONS) });
    if (roll < 0.8) {
      // Mostly a reaction this member added (it may be gone already), else any.
      const own = this.acked.filter((a) => a.t === 'react');
      const from = own.length > 0 && chance(this.rng, 0.8) ? pick(this.rng, own).payload : { target: pick(this.rng, hot).seq, reaction: pick(this.rng, REACTIONS) };
      return this.request('unreact', { target: from['target'], reaction: from['reaction'] });
    }
    if (mine.length === 0) return;
    if (roll < 0.93) return this.request('edit', { target: pick(this.rng, mine).seq, body: `edited by ${this.id} (${this.counter})` });
    return this.request('delete', { target: pick(this.rng, mine).seq });
  }

  /** A new request; an answer naming an event is recorded (a refusal, or an answer that the state already holds, is not an event). */
  private async request(t: string, fields: Record<string, unknown>): Promise<void> {
    const cid = `${this.id}-${++this.counter}`;
    const payload = { room: this.room, cid, ...fields };
    const at = Date.now();
    const r = await this.c.request(t, payload, 10_000);
    if (!r.ok) {
      if (!['not_found', 'forbidden'].includes(r.error?.code ?? '')) throw new Error(`${t} ${JSON.stringify(payload)}: ${JSON.stringify(r.error)}`);
      return;
    }
    const data = r.data as { seq: number; ts: number; dup: boolean };
    // dup on a new cid: nothing changed, the state was already what was asked (a held reaction, a deleted message).
    if (data.dup) return;
    this.acked.push({ t, payload, seq: data.seq });
    this.record(t, payload, at, data);
  }

  /** The same request again with its cid: the first answer again, dup. */
  private async resend(a: Acked): Promise<void> {
    const at = Date.now();
    const r = await this.c.request(a.t, a.payload, 10_000);
    if (!r.ok) throw new Error(`resending ${a.t} ${JSON.stringify(a.payload)}: ${JSON.stringify(r.error)}`);
    const data = r.data as { seq: number; ts: number; dup: boolean };
    if (!data.dup || data.seq !== a.seq) throw new Error(`a resend of ${JSON.stringify(a.payload)} was answered ${JSON.stringify(data)}, not seq ${a.seq} dup`);
    this.record(a.t, a.payload, at, data);
  }

  private record(t: string, payload: Record<string, unknown>, at: number, data: { seq: number; ts: number; dup: boolean }): void {
    const op = t === 'send' ? undefined : t;
    const body = seen({ seq: data.seq, cid: String(payload['cid']), from: this.user, ts: data.ts, ...(op !== undefined ? { op, target: payload['target'] as number } : {}), ...(typeof payload['reaction'] === 'string' ? { reaction: payload['reaction'] } : {}) }).body;
    this.sends.push({ op: 'send', client: this.id, conn: 1, at, end: Date.now(), room: this.room, from: this.user, cid: String(payload['cid']), body, outcome: { ok: true, data } });
  }
}
