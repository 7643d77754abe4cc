import { connect } from 'nats';

/** Older than any test run: a stream this old was left behind by a run that was killed. */
const STALE_MS = 30 * 60_000;

/**
 * JetStream streams of test deployments (prefixes from uniquePrefix: `t_…`) each reserve their
 * max bytes on the shared NATS server; a run that was killed leaves them behind. Remove stale
 * ones before and after the run (not fresh ones: another run may be using them). Streams of
 * other deployments are never touched.
 */
async function deleteTestStreams(): Promise<void> {
  let nc;
  try {
    nc = await connect({ servers: 'nats://127.0.0.1:4222', name: 'parley-test-cleanup', timeout: 2000 });
  } catch {
    // The tests that need NATS fail loudly on their own (requireNats).
    return;
  }
  try {
    const jsm = await nc.jetstreamManager();
    const stale: string[] = [];
    for await (const info of jsm.streams.list()) {
      if (info.config.name.startsWith('PARLEY_t_') && Date.now() - Date.parse(info.created) > STALE_MS) stale.push(info.config.name);
    }
    await Promise.all(stale.map((n) => jsm.streams.delete(n).catch(() => false)));
  } finally {
    await nc.close();
  }
}

export async function setup(): Promise<void> {
  await deleteTestStreams();
}

export async function teardown(): Promise<void> {
  await deleteTestStreams();
}
