import { nowMs, sampleBody, withTimeout, type Reply } from './client.js';
import { RawWs } from './raw-ws.js';

/** A text frame never starts with 0xff (not valid UTF-8): RawWs hands every frame to `onText`. */
const COUNT_NOTHING = Buffer.from([0xff]);
/** History pages fetched after a join whose reply said `more`, at most. */
const MAX_PAGES = 100;

interface PushFrame {
  t?: string;
  rid?: number;
  room?: string;
  seq?: number;
  body?: string;
  ok?: boolean;
  data?: unknown;
  error?: { code: string; message: string };
}

interface JoinData {
  room: string;
  epoch: string;
  head: number;
  messages: { seq: number }[];
  recovered: boolean;
  more: boolean;
}

/**
 * What one connection saw of one room, across its reconnects: every seq it received (join and
 * history replies, `msg` pushes), from the head of its first join on.
 */
export interface RoomTrack {
  epoch: string;
  /** Head of the first join: the member must receive every seq above it. */
  firstHead: number;
  /** Every seq from firstHead + 1 up to this one is held. */
  highest: number;
  got: Set<number>;
  pushed: Set<number>;
  /** A `msg` push of a seq already pushed once: a duplicate delivery. */
  pushDups: number;
  /** A `msg` push of a seq a join reply already carried: allowed (docs/protocol.md "Recovery"). */
  overlaps: number;
  /** A rejoin whose reply named another epoch or said the history was lost. */
  resets: number;
}

export interface MemberOptions {
  port: number;
  token: string;
  localAddress?: string;
  batch: boolean;
  timeoutMs: number;
  /** Keep every seq per room (the storm's loss and duplicate check). */
  track: boolean;
  onLatency?: (ms: number) => void;
  onClose?: (code: number) => void;
}

/** The status of an HTTP upgrade refusal, from RawWs's error message ("upgrade refused: HTTP/1.1 429 ..."). */
export function refusalStatus(err: unknown): number | undefined {
  const m = /upgrade refused: HTTP\/1\.1 (\d{3})/.exec(err instanceof Error ? err.message : String(err));
  return m ? Number(m[1]) : undefined;
}

/**
 * A /ws connection that decodes every frame (one object, or an array of them with `?batch=1`):
 * it counts `msg` and presence pushes (any `t` starting with "presence"), samples latency from
 * the send time at the start of a body, and with `track` keeps every seq it got per room.
 */
export class Member {
  msgs = 0;
  presence = 0;
  readonly rooms = new Map<string, RoomTrack>();
  private readonly pending = new Map<number, (reply: Reply) => void>();
  private nextId = 1;
  private ws!: RawWs;

  private constructor(private readonly opts: MemberOptions) {}

  get open(): boolean {
    return this.ws.open;
  }

  static async connect(opts: MemberOptions, rooms: Map<string, RoomTrack> | undefined): Promise<Member> {
    const member = new Member(opts);
    if (rooms) for (const [room, track] of rooms) member.rooms.set(room, track);
    let ready!: (ok: boolean, why?: string) => void;
    const readyP = new Promise<void>((resolve, reject) => {
      ready = (ok, why) => (ok ? resolve() : reject(new Error(why ?? 'refused')));
    });
    member.ready = ready;
    const ws = await RawWs.connect({
      port: opts.port,
      path: `/ws?token=${encodeURIComponent(opts.token)}${opts.batch ? '&batch=1' : ''}`,
      ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
      countPrefix: COUNT_NOTHING,
      onText: (text) => member.onText(text),
      onClose: (code) => {
        ready(false, `closed with ${code} before ready`);
        for (const done of member.pending.values()) done({ ok: false, error: { code: 'closed', message: `closed with ${code}` } });
        member.pending.clear();
        opts.onClose?.(code);
      },
      timeoutMs: opts.timeoutMs,
    });
    member.ws = ws;
    const timer = setTimeout(() => ready(false, `no hello within ${opts.timeoutMs} ms`), opts.timeoutMs);
    try {
      await readyP;
    } catch (err) {
      ws.destroy();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    return member;
  }

  private ready: (ok: boolean, why?: string) => void = () => undefined;

  request(t: string, payload: Record<string, unknown>): Promise<Reply> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.ws.sendText(JSON.stringify({ t, rid: id, ...payload }));
    });
  }

  /** A send whose reply only calls `onReply`; the body is sent as it is. */
  send(room: string, cid: string, body: string, onReply: (reply: Reply) => void): void {
    const id = this.nextId++;
    this.pending.set(id, onReply);
    this.ws.sendText(`{"t":"send","rid":${id},"room":${JSON.stringify(room)},"cid":"${cid}","body":${JSON.stringify(body)}}`);
  }

  /**
   * Joins `room`; a room already tracked is resumed with `since` (its highest seq) and `epoch`,
   * and the rest of a reply cut short (`more`) is fetched with `history`.
   */
  async join(room: string): Promise<void> {
    const known = this.rooms.get(room);
    // Presence as the SDK asks for it: one delta per interval in big rooms (ignored by servers without it).
    const args = known ? { room, since: known.highest, epoch: known.epoch, presence: 'delta' } : { room, presence: 'delta' };
    const reply = await withTimeout(this.request('join', args), this.opts.timeoutMs, `join ${room}`);
    if (!reply.ok) throw new Error(`join ${room} refused: ${reply.error?.code ?? 'error'}`);
    const data = reply.data as JoinData;
    const track = known;
    if (!track) {
      const fresh: RoomTrack = { epoch: data.epoch, firstHead: data.head, highest: data.head, got: new Set(), pushed: new Set(), pushDups: 0, overlaps: 0, resets: 0 };
      if (this.opts.track) this.rooms.set(room, fresh);
      return;
    }
    if (data.epoch !== track.epoch || (!data.recovered && !data.more)) track.resets++;
    this.gotAll(track, data.messages);
    let more = data.more;
    for (let page = 0; more && page < MAX_PAGES; page++) {
      const h = await withTimeout(this.request('history', { room, after: track.highest, limit: 100 }), this.opts.timeoutMs, `history ${room}`);
      if (!h.ok) throw new Error(`history ${room} refused: ${h.error?.code ?? 'error'}`);
      const page_ = h.data as { messages: { seq: number }[]; more: boolean };
      this.gotAll(track, page_.messages);
      more = page_.more;
    }
  }

  close(): void {
    this.ws.close();
  }

  destroy(): void {
    this.ws.destroy();
  }

  private gotAll(track: RoomTrack, messages: readonly { seq: number }[]): void {
    for (const m of messages) track.got.add(m.seq);
    advance(track);
  }

  private onText(text: string): void {
    // Fast paths: a lone push that needs no decoding is only counted.
    if (text.startsWith('{"t":"presence')) {
      this.presence++;
      return;
    }
    if (!this.opts.track && !this.opts.onLatency && text.startsWith('{"t":"msg"')) {
      this.msgs++;
      return;
    }
    const parsed = JSON.parse(text) as PushFrame | PushFrame[];
    if (Array.isArray(parsed)) for (const f of parsed) this.onFrame(f);
    else this.onFrame(parsed);
  }

  private onFrame(f: PushFrame): void {
    const t = f.t ?? '';
    if (t === 'msg') {
      this.msgs++;
      if (this.opts.onLatency && typeof f.body === 'string') sampleBody(f.body, this.opts.onLatency);
      const track = f.room === undefined ? undefined : this.rooms.get(f.room);
      if (track && typeof f.seq === 'number') this.onSeq(track, f.seq);
    } else if (t.startsWith('presence')) this.presence++;
    else if (t === 'reply' && typeof f.rid === 'number') {
      const done = this.pending.get(f.rid);
      if (!done) return;
      this.pending.delete(f.rid);
      done(f as Reply);
    } else if (t === 'hello') this.ready(true);
  }

  private onSeq(track: RoomTrack, seq: number): void {
    if (track.pushed.has(seq)) track.pushDups++;
    else if (track.got.has(seq)) track.overlaps++;
    track.pushed.add(seq);
    track.got.add(seq);
    advance(track);
  }
}

/**
 * `highest` is the end of the gap-free run held from the first head on: the resume point. A
 * push that arrived past a gap (a join that failed after the server had subscribed the socket)
 * must not move it, or the next `since` would skip the gap.
 */
function advance(track: RoomTrack): void {
  while (track.got.has(track.highest + 1)) track.highest++;
}

/** Lost seqs of one track: those in (firstHead, head] it never got. */
export function lostSeqs(track: RoomTrack, head: number): number {
  let lost = 0;
  for (let s = track.firstHead + 1; s <= head; s++) if (!track.got.has(s)) lost++;
  return lost;
}

export { nowMs };
