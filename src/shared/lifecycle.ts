/** A long-lived component: `start()` once, `close()` any number of times (idempotent). */
export interface Lifecycle {
  start(): Promise<void>;
  close(): Promise<void>;
}
