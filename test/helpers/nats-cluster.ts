// A throwaway 3-server NATS cluster with JetStream for tests: nats-server children on free
// loopback ports, routed to each other, each with its own store directory in one temp dir.
// Servers can be killed (-9) and started again on the same ports and store (they rejoin the
// cluster and catch up). Start it in beforeAll, stop it in afterAll.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { freePort } from './cluster.js';
import { NATS_SERVER, natsInfo, ServerProcess } from './services-private.js';

const START_DEADLINE_MS = 30_000;
const PROBE_PAUSE_MS = 200;

export interface NatsClusterServer {
  /** Its `server_name`: what stream info names as a leader or replica. */
  readonly name: string;
  readonly port: number;
  readonly url: string;
  readonly running: boolean;
  /** kill -9. */
  kill(): Promise<void>;
  /** Starts it again on its port and store; resolves once it answers (JetStream may still be catching up). */
  start(): Promise<void>;
}

export interface NatsClusterHandle {
  readonly servers: readonly NatsClusterServer[];
  /** Every server's URL, as NATS_URL takes them (comma-separated). */
  readonly urls: string[];
  server(name: string): NatsClusterServer;
  /** Kills the servers and removes their directory; idempotent. */
  stop(): Promise<void>;
}

/** Starts `size` routed nats-server processes with JetStream and resolves once JetStream answers through each. */
export async function startNatsCluster(size = 3): Promise<NatsClusterHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-nats-cluster-'));
  const processes: ServerProcess[] = [];
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      await Promise.all(processes.map((p) => p.close()));
      rmSync(dir, { recursive: true, force: true });
    })());
  try {
    const ports: { client: number; route: number }[] = [];
    const taken = new Set<number>();
    while (ports.length < size) {
      const [client, route] = [await freePort(), await freePort()];
      if (client === route || taken.has(client) || taken.has(route)) continue;
      taken.add(client).add(route);
      ports.push({ client, route });
    }
    const servers = ports.map(({ client, route }, i) => {
      const name = `n${i + 1}`;
      const store = join(dir, name);
      mkdirSync(store);
      const routes = ports.filter((p) => p.route !== route).map((p) => `nats://127.0.0.1:${p.route}`).join(',');
      const args = ['-a', '127.0.0.1', '-p', String(client), '--server_name', name, '-js', '-sd', store,
        '--cluster_name', 'parley-test', '--cluster', `nats://127.0.0.1:${route}`, '--routes', routes];
      const proc = new ServerProcess(`nats-server ${name}`, NATS_SERVER, args, store, () => natsInfo(client));
      processes.push(proc);
      const server: NatsClusterServer = {
        name,
        port: client,
        url: `nats://127.0.0.1:${client}`,
        get running() {
          return proc.running;
        },
        kill: () => proc.stopWith(),
        start: () => proc.start(),
      };
      return server;
    });
    await Promise.all(servers.map((s) => s.start()));
    const deadline = Date.now() + START_DEADLINE_MS;
    await Promise.all(servers.map((s) => untilJetStream(s.url, deadline)));
    return {
      servers,
      urls: servers.map((s) => s.url),
      server(name) {
        const found = servers.find((s) => s.name === name);
        if (!found) throw new Error(`no NATS server named ${name} (have ${servers.map((s) => s.name).join(', ')})`);
        return found;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Resolves once JetStream answers an account info through `url`: the cluster elected its meta leader. */
async function untilJetStream(url: string, deadline: number): Promise<void> {
  let failure: unknown;
  for (let attempt = 0; attempt < START_DEADLINE_MS / PROBE_PAUSE_MS && Date.now() < deadline; attempt++) {
    let nc: NatsConnection | undefined;
    try {
      nc = await connect({ servers: url, reconnect: false, timeout: 2_000 });
      await (await nc.jetstreamManager()).getAccountInfo();
      return;
    } catch (err) {
      failure = err;
    } finally {
      await nc?.close();
    }
    await new Promise((r) => setTimeout(r, PROBE_PAUSE_MS));
  }
  throw new Error(`JetStream did not answer through ${url} within ${START_DEADLINE_MS} ms: ${String(failure)}`);
}
