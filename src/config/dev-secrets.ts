import { randomBytes } from 'node:crypto';
import { chmodSync, linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** The secrets a dev-mode node uses when none are configured. */
export interface DevSecrets {
  jwtSecret: string;
  adminToken: string;
}

/** Where dev secrets come from: called by loadConfig in dev mode only, with DEV_SECRETS_FILE. */
export type DevSecretsSource = (file: string) => DevSecrets;

/** The dev secrets file was unreadable or malformed; the message says how to recover. */
export class DevSecretsError extends Error {
  override readonly name = 'DevSecretsError';
}

export function generateDevSecrets(): DevSecrets {
  return { jwtSecret: randomBytes(32).toString('base64url'), adminToken: randomBytes(24).toString('base64url') };
}

/**
 * The dev secrets kept in `file` (relative to the working directory), created with mode 0600
 * (its directory 0700) on first use and read back afterwards, so tokens minted before a restart,
 * by `parley token` or by another dev node in the same directory stay valid. The file appears
 * whole (written aside, then hard-linked into place, which fails if it exists): two processes
 * starting together both end up with the secrets of the first one.
 */
export function fileDevSecrets(file: string): DevSecrets {
  const path = resolve(file);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const fresh = generateDevSecrets();
  const aside = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(aside, `${JSON.stringify(fresh, null, 2)}\n`, { mode: 0o600 });
    linkSync(aside, path);
    return fresh;
  } catch (err) {
    if (!(err instanceof Error && 'code' in err && err.code === 'EEXIST')) throw new DevSecretsError(`cannot create ${path}: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    try {
      unlinkSync(aside);
    } catch {
      // never written
    }
  }
  // A copy made readable by others (an archive, a careless chmod) is taken back to the owner.
  if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
  return parseDevSecrets(path, readFileSync(path, 'utf8'));
}

function parseDevSecrets(path: string, text: string): DevSecrets {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  const fields = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  const { jwtSecret, adminToken } = fields;
  if (typeof jwtSecret !== 'string' || Buffer.byteLength(jwtSecret) < 32 || typeof adminToken !== 'string' || adminToken.length < 16) {
    throw new DevSecretsError(`${path} is not a dev secrets file ({"jwtSecret" of 32+ bytes, "adminToken" of 16+ chars}); delete it to get a new one`);
  }
  return { jwtSecret, adminToken };
}
