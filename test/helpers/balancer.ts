import { connect, createServer, type Socket } from 'node:net';

/** A TCP load balancer in front of several nodes, so that clients with one URL survive a node's death. */
export interface Balancer {
  port: number;
  /** `/ws` through the balancer. */
  wsUrl: string;
  httpUrl: string;
  /** The backend port each accepted connection went to, in order (undefined: every backend refused). */
  readonly routed: readonly (number | undefined)[];
  close(): Promise<void>;
}

const CONNECT_DEADLINE_MS = 2_000;

/**
 * Listens on 127.0.0.1, port 0. Each connection goes to the next backend in round-robin order
 * that accepts a TCP connection: a backend that refuses (or does not answer within 2 s) is
 * skipped; when all refuse, the client's socket is destroyed. The pair lives and dies together,
 * so a backend that dies takes its clients' connections with it.
 */
export async function startBalancer(backends: readonly number[]): Promise<Balancer> {
  if (backends.length === 0) throw new Error('balancer: no backends');
  const pairs = new Set<Socket>();
  const routed: (number | undefined)[] = [];
  let next = 0;

  /** Tries backends from `next` on, each at most once. */
  const pick = async (): Promise<{ port: number; upstream: Socket } | undefined> => {
    const start = next;
    next = (next + 1) % backends.length;
    for (let i = 0; i < backends.length; i++) {
      const port = backends[(start + i) % backends.length]!;
      const upstream = await tryConnect(port);
      if (upstream) return { port, upstream };
    }
    return undefined;
  };

  const server = createServer({ pauseOnConnect: true }, (client) => {
    client.on('error', () => client.destroy());
    const slot = routed.push(undefined) - 1;
    void pick().then((found) => {
      if (!found || client.destroyed) {
        found?.upstream.destroy();
        client.destroy();
        return;
      }
      const { port, upstream } = found;
      routed[slot] = port;
      pairs.add(client);
      pairs.add(upstream);
      const end = (): void => {
        pairs.delete(client);
        pairs.delete(upstream);
        client.destroy();
        upstream.destroy();
      };
      for (const s of [client, upstream]) {
        s.on('error', end);
        s.on('close', end);
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('balancer: no port');
  const port = address.port;
  return {
    port,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    httpUrl: `http://127.0.0.1:${port}`,
    routed,
    close() {
      for (const s of pairs) s.destroy();
      pairs.clear();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A connected socket to 127.0.0.1:port, or undefined if refused or too slow. */
function tryConnect(port: number): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const timer = setTimeout(() => fail(), CONNECT_DEADLINE_MS);
    const fail = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(undefined);
    };
    socket.once('error', fail);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', fail);
      resolve(socket);
    });
  });
}
