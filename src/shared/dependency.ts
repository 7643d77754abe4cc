import { redactUrl } from './logger.js';

/** A service the process needs at start-up, named as a person would: `Redis`, `NATS`, `MongoDB`. */
export interface Dependency {
  name: string;
  /** URLs or host:port lists as configured; only their redacted form is ever shown. */
  where: string;
}

/**
 * A dependency could not be reached at start-up. The message names it and its redacted URL
 * and holds no stack, so the CLI prints it as one line.
 */
export class DependencyError extends Error {
  override readonly name = 'DependencyError';
  readonly dependency: string;

  constructor(dep: Dependency, cause: unknown) {
    const shown = redactWhere(dep.where);
    super(`cannot reach ${dep.name} at ${shown}: ${scrub(causeText(cause), dep.where, shown)}`, { cause });
    this.dependency = dep.name;
  }
}

/** Runs a start-up step of `dep`, turning its failure into a DependencyError. */
export async function reaching<T>(dep: Dependency | undefined, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (dep === undefined || err instanceof DependencyError) throw err;
    throw new DependencyError(dep, err);
  }
}

function redactWhere(where: string): string {
  return where.includes('://') ? where.split(',').map((u) => redactUrl(u.trim())).join(',') : where;
}

function causeText(cause: unknown): string {
  const text = cause instanceof Error ? cause.message || cause.name : String(cause);
  return text.split('\n')[0] ?? '';
}

/** Client libraries may quote the URL they were given: never with its password. */
function scrub(text: string, where: string, shown: string): string {
  let out = text.split(where).join(shown);
  for (const raw of where.split(',')) {
    try {
      const password = new URL(raw.trim()).password;
      if (password) out = out.split(password).join('***');
    } catch {
      // a host:port list has no password
    }
  }
  return out;
}
