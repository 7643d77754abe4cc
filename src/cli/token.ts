import { parseArgs } from 'node:util';
import { ConfigError, fileDevSecrets, loadConfig } from '../config/index.js';
import { mintToken } from '../gateway/auth.js';

const DEFAULT_TTL_S = 3600;
const MAX_TTL_S = 366 * 86400;

/** A command line `parley token` cannot run with; the CLI prints it and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * `parley token --user U [--rooms R] [--ttl S]`: a token signed with the key the server of
 * this environment uses (JWT_SECRET, or in dev mode the DEV_SECRETS_FILE). Resolves to the
 * token alone, so `$(parley token --user alice)` works in a shell.
 */
export async function tokenCommand(args: string[], env: Readonly<Record<string, string | undefined>>): Promise<string> {
  let values: { user?: string | undefined; rooms?: string | undefined; ttl?: string | undefined };
  try {
    ({ values } = parseArgs({ args, options: { user: { type: 'string' }, rooms: { type: 'string' }, ttl: { type: 'string' } }, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const user = values.user;
  if (user === undefined || user === '') throw new UsageError('--user is required');
  const ttlS = values.ttl === undefined ? DEFAULT_TTL_S : /^[0-9]{1,9}$/.test(values.ttl) ? Number(values.ttl) : NaN;
  if (!(ttlS >= 1 && ttlS <= MAX_TTL_S)) throw new UsageError(`--ttl must be an integer number of seconds from 1 to ${MAX_TTL_S}`);
  const rooms = values.rooms?.split(',').map((r) => r.trim()).filter((r) => r !== '');

  const { config } = loadConfig(env, { devSecrets: fileDevSecrets });
  const { secret, algorithms, issuer, audience } = config.auth;
  if (secret === undefined || !algorithms.includes('HS256')) {
    throw new ConfigError('JWT_SECRET', 'parley token signs HS256 tokens with JWT_SECRET, and this configuration does not accept them');
  }
  try {
    const { token } = await mintToken(secret, { user, ttlS, ...(rooms !== undefined ? { rooms } : {}), ...(issuer !== undefined ? { issuer } : {}), ...(audience !== undefined ? { audience } : {}) });
    return token;
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}
