import uWS from 'uWebSockets.js';

export type { TemplatedApp, WebSocket, HttpResponse, HttpRequest, us_listen_socket } from 'uWebSockets.js';

/** The uWS module shape Parley relies on, enough to tell the native build from the JS fallback. */
export interface UwsModule {
  App: (...args: never[]) => unknown;
  getParts?: unknown;
}

export class NativeUwsMissingError extends Error {
  override readonly name = 'NativeUwsMissingError';
}

/**
 * uWebSockets.js silently falls back to a slow JavaScript implementation when its native
 * binary does not load for this Node.js build; Parley refuses to run on that fallback.
 */
export function assertNativeUws(mod: UwsModule): void {
  const native = typeof mod.getParts === 'function' && /\[native code\]/.test(Function.prototype.toString.call(mod.App));
  if (!native) {
    throw new NativeUwsMissingError(
      `uWebSockets.js could not load its native binary for Node.js ${process.version} ` +
        `(${process.platform}-${process.arch}, ABI ${process.versions.modules}) and fell back to a slow JavaScript ` +
        'implementation; Parley refuses to start on it. Use Node.js 18, 20 or 22 on linux/darwin x64/arm64, and do not set UWS_USE_FALLBACK.',
    );
  }
}

/** The native uWS module, after checking it is native. */
export function loadUws(): typeof uWS {
  assertNativeUws(uWS);
  return uWS;
}

/** The port is taken (or the address is not this machine's): the node cannot serve. */
export class ListenError extends Error {
  override readonly name = 'ListenError';
}

/**
 * uSockets' LIBUS_LISTEN_EXCLUSIVE_PORT: without it the listen socket has SO_REUSEPORT, and a
 * second node on a port in use "listens" too, silently sharing connections with the first.
 */
const LISTEN_EXCLUSIVE_PORT = 1;

/**
 * Opens `app`'s listen socket on host:port (0: a free port), exclusively; resolves with the
 * socket and the port it got. `variable` names the setting to blame when the port is taken.
 */
export function listen(uws: typeof uWS, app: uWS.TemplatedApp, host: string, port: number, variable: string): Promise<{ socket: uWS.us_listen_socket; port: number }> {
  return new Promise((resolve, reject) => {
    // The typings lack the (host, port, options, cb) overload that the native module has.
    const open = app.listen.bind(app) as unknown as (h: string, p: number, o: number, cb: (s: uWS.us_listen_socket | false) => void) => void;
    open(host, port, LISTEN_EXCLUSIVE_PORT, (socket) => {
      if (!socket) {
        return reject(new ListenError(`cannot listen on ${host}:${port}: the port is in use (another parley?) or the address is not this machine's; set ${variable} or HOST`));
      }
      resolve({ socket, port: uws.us_socket_local_port(socket) });
    });
  });
}
