// The connection half of the history checker: presence at the end against the connections open
// at the end, and token expiry (docs/protocol.md, "Token expiry and `auth`": a token whose exp passes without
// an `auth` renewal closes the connection with 4001, and only then).
import type { Anomaly, CheckInput, Operation } from './history.js';

/** Per room and user, presence must count exactly the open connections. */
export function checkPresence(input: Pick<CheckInput, 'presence' | 'expectedPresence'>, anomalies: Anomaly[]): void {
  const rooms = new Set([...Object.keys(input.presence), ...Object.keys(input.expectedPresence)]);
  for (const room of rooms) {
    const seen = input.presence[room] ?? {};
    const want = input.expectedPresence[room] ?? {};
    const diffs: string[] = [];
    for (const user of new Set([...Object.keys(seen), ...Object.keys(want)])) {
      const s = seen[user] ?? 0;
      const w = want[user] ?? 0;
      if (s !== w) diffs.push(`${user}: ${s} device(s) in presence, ${w} open`);
    }
    if (diffs.length > 0) anomalies.push({ kind: 'presence-divergence', room, detail: diffs.join('; ') });
  }
}

/** Frames a connection got late, this far apart, prove that the gateway's expiry sweep was not just catching up. */
const SERVED_APART_MS = 2_000;

/**
 * 4001 only once the token expired, and no connection served past its token's exp + `slackMs`.
 * "Served" needs two frames at least SERVED_APART_MS apart after that point: a gateway resumed
 * from a pause may flush replies it owed before its sweep (every 100 ms) closes the connection.
 */
export function checkExpiry(ops: readonly Operation[], slackMs: number, anomalies: Anomaly[]): void {
  const expMs = new Map<string, number>();
  const lateSince = new Map<string, number>();
  for (const o of ops) {
    if (o.op === 'abandon' || o.op === 'quit') continue;
    const conn = `${o.client}#${o.conn}`;
    if (o.op === 'open') {
      expMs.set(conn, o.exp * 1000);
      continue;
    }
    const exp = expMs.get(conn);
    if (exp === undefined) continue;
    if (o.op === 'auth') {
      if (o.outcome.ok) expMs.set(conn, o.outcome.data.exp * 1000);
      continue;
    }
    if (o.op === 'close') {
      if (o.code === 4001 && o.at < exp) {
        anomalies.push({ kind: 'token-expiry', at: o.at, client: o.client, detail: `connection ${conn} closed with 4001 ${exp - o.at} ms before its token expired` });
      }
      continue;
    }
    const received = 'end' in o ? o.end : o.at;
    const replied = o.op === 'msg' || o.outcome.ok || (o.outcome.code !== 'timeout' && o.outcome.code !== 'closed');
    if (!replied || received <= exp + slackMs) continue;
    const first = lateSince.get(conn);
    if (first === undefined) lateSince.set(conn, received);
    else if (received - first >= SERVED_APART_MS) {
      anomalies.push({ kind: 'token-expiry', at: received, client: o.client, detail: `connection ${conn} was still served ${received - exp} ms after its token expired` });
      expMs.delete(conn);
    }
  }
}
