import type { Logger } from './logger.js';

interface Window {
  until: number;
  suppressed: number;
  fields: Record<string, unknown>;
  message: string;
  timer?: NodeJS.Timeout;
}

/**
 * Logs the first failure of each kind at once, and then, per `everyMs`, one line saying how many
 * more of that kind happened: an outage that refuses thousands of requests is a few lines, not
 * thousands, and no failure goes unreported.
 */
export class LogThrottle {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly logger: Logger,
    private readonly everyMs = 10_000,
  ) {}

  error(kind: string, fields: Record<string, unknown>, message: string): void {
    const open = this.windows.get(kind);
    if (open && Date.now() < open.until) {
      open.suppressed++;
      open.fields = fields;
      open.message = message;
      open.timer ??= setTimeout(() => this.flush(kind), Math.max(0, open.until - Date.now())).unref();
      return;
    }
    this.windows.set(kind, { until: Date.now() + this.everyMs, suppressed: 0, fields, message });
    this.logger.error(fields, message);
  }

  private flush(kind: string): void {
    const w = this.windows.get(kind);
    this.windows.delete(kind);
    if (w && w.suppressed > 0) this.logger.error({ ...w.fields, repeated: w.suppressed, withinMs: this.everyMs }, `${w.message} (repeated)`);
  }
}
