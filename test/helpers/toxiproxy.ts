// A private Toxiproxy (v2.5.0, installed by scripts/services.sh) per test file, and a typed
// wrapper of its HTTP API. Proxies sit between the processes under test and each service, so a
// test can add latency, blackholes, resets or a partition to one link without touching others.
// The server is a child process on a free loopback port, killed in close() and, as a backstop,
// when the test process exits (like the private Redis and NATS of services-private.ts).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './cluster.js';

const START_DEADLINE_MS = 10_000;
const PROBE_PAUSE_MS = 50;
const API_DEADLINE_MS = 5_000;

export type ToxicStream = 'upstream' | 'downstream';

/** The toxics of Toxiproxy 2.5 this suite uses, with their attributes (milliseconds, KB/s). */
export type ToxicSpec =
  | { type: 'latency'; attributes: { latency: number; jitter?: number } }
  /** Stops all data; closes the connection after `timeout` ms (0: never, a blackhole). */
  | { type: 'timeout'; attributes: { timeout: number } }
  /** Resets connections (TCP RST) at once (`timeout` 0) or after `timeout` ms. */
  | { type: 'reset_peer'; attributes: { timeout: number } }
  | { type: 'bandwidth'; attributes: { rate: number } }
  | { type: 'slow_close'; attributes: { delay: number } };

export interface ToxicOptions {
  /** Unique per proxy; Toxiproxy's default is `<type>_<stream>`. */
  name?: string;
  stream?: ToxicStream;
  /** Probability (0-1) that a connection gets the toxic. */
  toxicity?: number;
}

export interface Toxic {
  name: string;
  type: string;
  stream: ToxicStream;
  toxicity: number;
  attributes: Record<string, number>;
}

interface ProxyState {
  name: string;
  listen: string;
  upstream: string;
  enabled: boolean;
  toxics: Toxic[];
}

/** The toxiproxy `server` binary: $TOXIPROXY_SERVER, else GOPATH's bin (where `go install` puts it). */
export function toxiproxyBinary(): string {
  const candidates: string[] = [];
  if (process.env['TOXIPROXY_SERVER']) candidates.push(process.env['TOXIPROXY_SERVER']);
  for (const go of ['go', '/usr/local/go/bin/go']) {
    try {
      const gopath = execFileSync(go, ['env', 'GOPATH'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
      candidates.push(join(gopath.split(':')[0] ?? gopath, 'bin', 'server'));
      break;
    } catch {
      // this go is not installed: try the next one
    }
  }
  candidates.push(join(homedir(), 'go', 'bin', 'server'));
  for (const bin of candidates) {
    if (!existsSync(bin)) continue;
    const version = execFileSync(bin, ['-version'], { encoding: 'utf8' });
    if (version.startsWith('toxiproxy-server')) return bin;
  }
  throw new Error(`the toxiproxy server binary is missing (looked at ${candidates.join(', ')}): run \`bash scripts/services.sh\` (npm test does)`);
}

/** One proxy: `listen` (a loopback port chosen by Toxiproxy) forwards to its upstream. */
export class Proxy {
  constructor(
    private readonly api: ToxiproxyServer,
    readonly name: string,
    readonly port: number,
    readonly upstream: string,
  ) {}

  /** `scheme://127.0.0.1:<listen port>`, e.g. `redis` for a REDIS_URL. */
  url(scheme: string, path = ''): string {
    return `${scheme}://127.0.0.1:${this.port}${path}`;
  }

  /** A partition: closes every connection through the proxy and refuses new ones until `enable()`. */
  async disable(): Promise<void> {
    await this.api.call('POST', `/proxies/${this.name}`, { enabled: false });
  }

  async enable(): Promise<void> {
    await this.api.call('POST', `/proxies/${this.name}`, { enabled: true });
  }

  async addToxic(spec: ToxicSpec, opts: ToxicOptions = {}): Promise<Toxic> {
    const stream = opts.stream ?? 'downstream';
    const body = { name: opts.name ?? `${spec.type}_${stream}`, type: spec.type, stream, toxicity: opts.toxicity ?? 1, attributes: spec.attributes };
    return (await this.api.call('POST', `/proxies/${this.name}/toxics`, body)) as Toxic;
  }

  async removeToxic(name: string): Promise<void> {
    await this.api.call('DELETE', `/proxies/${this.name}/toxics/${name}`);
  }

  async state(): Promise<ProxyState> {
    return (await this.api.call('GET', `/proxies/${this.name}`)) as ProxyState;
  }

  /** Back to a clean link: enabled, no toxics. */
  async heal(): Promise<void> {
    const { enabled, toxics } = await this.state();
    await Promise.all(toxics.map((t) => this.removeToxic(t.name)));
    if (!enabled) await this.enable();
  }
}

export class ToxiproxyServer {
  private readonly output: string[] = [];
  private closed = false;

  private constructor(
    private readonly child: ChildProcess,
    readonly apiUrl: string,
    private readonly exited: Promise<void>,
  ) {}

  /** Starts a private server on a free loopback port and resolves once its API answers. */
  static async start(): Promise<ToxiproxyServer> {
    const bin = toxiproxyBinary();
    let failure: unknown;
    // A free port is only free until someone binds it: try another one if it was taken.
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      const child = spawn(bin, ['-host', '127.0.0.1', '-port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
      const backstop = (): void => void child.kill('SIGKILL');
      process.once('exit', backstop);
      const exited = new Promise<void>((resolve) =>
        child.once('exit', () => {
          process.off('exit', backstop);
          resolve();
        }),
      );
      const server = new ToxiproxyServer(child, `http://127.0.0.1:${port}`, exited);
      const keep = (chunk: Buffer): void => {
        server.output.push(chunk.toString());
        if (server.output.length > 200) server.output.shift();
      };
      child.stdout?.on('data', keep);
      child.stderr?.on('data', keep);
      try {
        await server.waitUntilAnswering();
        return server;
      } catch (err) {
        failure = err;
        await server.close();
      }
    }
    throw failure;
  }

  private async waitUntilAnswering(): Promise<void> {
    const deadline = Date.now() + START_DEADLINE_MS;
    for (let i = 0; i < START_DEADLINE_MS / PROBE_PAUSE_MS; i++) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) break;
      try {
        const res = await fetch(`${this.apiUrl}/version`, { signal: AbortSignal.timeout(1_000) });
        // The answer must come from our process: a port taken by someone else fails the exit check below.
        if (res.ok && this.child.exitCode === null) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, PROBE_PAUSE_MS));
    }
    throw new Error(`toxiproxy did not answer on ${this.apiUrl} within ${START_DEADLINE_MS} ms:\n${this.output.join('')}`);
  }

  /** A proxy listening on a loopback port of Toxiproxy's choice, forwarding to `upstream` (host:port). */
  async createProxy(name: string, upstream: string): Promise<Proxy> {
    const state = (await this.call('POST', '/proxies', { name, listen: '127.0.0.1:0', upstream, enabled: true })) as ProxyState;
    const port = Number(state.listen.split(':').pop());
    if (!Number.isInteger(port) || port <= 0) throw new Error(`toxiproxy gave proxy ${name} no port: ${JSON.stringify(state)}`);
    return new Proxy(this, name, port, upstream);
  }

  /** Every proxy enabled again and every toxic removed. */
  async reset(): Promise<void> {
    await this.call('POST', '/reset');
  }

  /** One API call; a non-2xx answer throws with Toxiproxy's error text. */
  async call(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<unknown> {
    const res = await fetch(`${this.apiUrl}${path}`, {
      method,
      signal: AbortSignal.timeout(API_DEADLINE_MS),
      ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`toxiproxy ${method} ${path} answered ${res.status}: ${text}`);
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  }

  /** Kills the server (every proxy goes with it); idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}
