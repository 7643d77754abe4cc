// Guards for tests that need a real server (README.md, "Set-up").
// A missing service is a broken environment, not a reason to skip: each guard throws.
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';

const HOST = '127.0.0.1';
const CONNECT_DEADLINE_MS = 2_000;

/** Resolves once a TCP connection to host:port opens; rejects naming the service otherwise. */
async function requireTcp(service: string, port: number, host: string): Promise<void> {
  const reason = await new Promise<string | undefined>((resolve) => {
    const socket = connect({ host, port });
    const finish = (failure: string | undefined): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(failure);
    };
    const timer = setTimeout(() => finish(`no answer within ${CONNECT_DEADLINE_MS} ms`), CONNECT_DEADLINE_MS);
    socket.once('connect', () => finish(undefined));
    socket.once('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message));
  });
  if (reason !== undefined) {
    throw new Error(
      `${service} is not reachable at ${host}:${port} (${reason}). ` +
        'Tests need the real services: run `bash scripts/services.sh` (npm test does).',
    );
  }
}

export async function requireRedis(port = 6379, host = HOST): Promise<void> {
  await requireTcp('Redis', port, host);
}

export async function requireNats(port = 4222, host = HOST): Promise<void> {
  await requireTcp('NATS', port, host);
}

/** MongoDB wire protocol: FerretDB in tests, MongoDB in production. */
export async function requireMongo(port = 27017, host = HOST): Promise<void> {
  await requireTcp('MongoDB (FerretDB)', port, host);
}

/**
 * `t_<name>_<8 hex>`: a per-test prefix for Redis keys, NATS subjects, stream and database
 * names. Characters outside [A-Za-z0-9_-] become `_` and the name is cut to 40 characters,
 * so the result is valid in all of them (no `.` token separator, under MongoDB's 63 bytes).
 */
export function uniquePrefix(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40);
  return `t_${safe}_${randomBytes(4).toString('hex')}`;
}
