/**
 * Per-connection abuse limits of docs/protocol.md: a token bucket of RATE_PER_S with RATE_BURST,
 * a count of refused frames (past 3 * RATE_BURST in a row the connection is closed with 4008),
 * and a sliding one-minute window of bad frames (MAX_BAD_FRAMES closes with 4400).
 */
export class FrameGuard {
  private tokens: number;
  private refilledAt: number;
  private refusedInRow = 0;
  /** Allocated on the first bad frame: most connections never send one. */
  private badAt: number[] | undefined;

  constructor(
    private readonly ratePerS: number,
    private readonly burst: number,
    private readonly maxBadFrames: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.refilledAt = now();
  }

  /** Takes one token: 'ok', 'refused', or 'abuse' once refusals pass 3 * burst. */
  take(): 'ok' | 'refused' | 'abuse' {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) / 1000) * this.ratePerS);
    this.refilledAt = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      this.refusedInRow = 0;
      return 'ok';
    }
    this.refusedInRow++;
    return this.refusedInRow > 3 * this.burst ? 'abuse' : 'refused';
  }

  /** Records a bad frame; true when the connection has now sent too many within a minute. */
  bad(): boolean {
    const now = this.now();
    const badAt = (this.badAt ??= []);
    while (badAt.length > 0 && (badAt[0] ?? now) <= now - 60_000) badAt.shift();
    badAt.push(now);
    return badAt.length >= this.maxBadFrames;
  }
}
