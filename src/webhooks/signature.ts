import { createHmac } from 'node:crypto';

/**
 * `Parley-Signature: t=<unix seconds>,v1=<hex>`: HMAC-SHA256 with WEBHOOK_SECRET over
 * `<t>.<raw body>`. Each attempt is signed afresh with its own `t`; the body stays the same.
 * docs/webhooks.md shows receivers how to check it and refuse replays.
 */
export function signatureHeader(secret: string, body: Uint8Array, nowMs = Date.now()): string {
  const t = Math.floor(nowMs / 1000);
  const v1 = createHmac('sha256', secret).update(`${t}.`).update(body).digest('hex');
  return `t=${t},v1=${v1}`;
}
