export interface SlowChecksOptions<S> {
  /** How long after the first write a check runs: writes within it are checked together. */
  delayMs: number;
  /** This node's sessions in a room (the registry's room index). */
  membersOf(room: string): Iterable<S>;
  /** Checks one session; true while it still has unsent bytes (it is checked again until they drain). */
  check(session: S): boolean;
}

/**
 * Schedules the slow-consumer checks by activity: a session's unsent buffer grows only when
 * something is written to it (a push to one of its rooms, or a reply or push to it alone), and
 * shrinks only as it drains. So a check runs `delayMs` after writes, on the sessions written
 * to, and again every `delayMs` on those that still had a backlog, until it is gone. A node
 * with no writes and no backlog runs no timer and does no per-session work.
 */
export class SlowChecks<S> {
  private readonly rooms = new Set<string>();
  private readonly written = new Set<S>();
  private readonly backlogged = new Set<S>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly opts: SlowChecksOptions<S>) {}

  /** Something was pushed to the room's members on this node. */
  roomWritten(room: string): void {
    this.rooms.add(room);
    this.arm();
  }

  /** Something was written to this session alone. */
  sessionWritten(session: S): void {
    this.written.add(session);
    this.arm();
  }

  /** Checks the session at once (its socket drained); keeps it checked while it has a backlog. */
  checkNow(session: S): void {
    this.note(session, this.opts.check(session));
  }

  /** The session is gone. */
  forget(session: S): void {
    this.written.delete(session);
    this.backlogged.delete(session);
  }

  /** Sessions still being checked for a backlog. */
  get backlogSize(): number {
    return this.backlogged.size;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One round: every session written to since the last round, and every one with a backlog. */
  run(): void {
    this.timer = undefined;
    const due = new Set<S>(this.backlogged);
    for (const s of this.written) due.add(s);
    for (const room of this.rooms) for (const s of this.opts.membersOf(room)) due.add(s);
    this.written.clear();
    this.rooms.clear();
    for (const s of due) this.note(s, this.opts.check(s));
    if (this.backlogged.size > 0) this.arm();
  }

  private note(session: S, backlog: boolean): void {
    if (backlog) this.backlogged.add(session);
    else this.backlogged.delete(session);
  }

  private arm(): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => this.run(), this.opts.delayMs);
    this.timer.unref();
  }
}
