#!/usr/bin/env node
import { ConfigError, loadConfig } from './config/index.js';
import { createNode } from './main.js';
import { createLogger } from './shared/logger.js';
import { NativeUwsMissingError } from './gateway/uws.js';

/** `parley` (or `parley serve`): one gateway node configured from the environment. */
async function serve(): Promise<void> {
  const { config, generated } = loadConfig(process.env);
  const logger = createLogger(config.logLevel);
  const node = createNode(config, logger);
  const port = await node.start();
  const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
  logger.info({ node: config.nodeId, port, ...(node.adminPort !== undefined ? { adminPort: node.adminPort } : {}), devMode: config.devMode }, 'parley is listening');
  // With ADMIN_PORT the dev token is minted on the admin listener.
  const tokenPort = node.adminPort ?? port;
  if (config.devMode) {
    // Printed once on purpose, to the terminal only: these are throwaway dev-mode credentials.
    process.stdout.write(
      [
        '',
        `  Parley (dev mode) on http://${host}:${port}`,
        `  WebSocket:   ws://${host}:${port}/ws?token=<jwt>`,
        `  Socket.IO:   http://${host}:${port}  (auth: { token })`,
        `  Get a token: curl -s -XPOST http://${host}:${tokenPort}/dev/token -d '{"user":"alice"}'`,
        ...(generated?.jwtSecret ? [`  JWT_SECRET (generated): ${generated.jwtSecret}`] : []),
        ...(generated?.adminToken ? [`  ADMIN_TOKEN (generated): ${generated.adminToken}`] : []),
        '',
        '',
      ].join('\n'),
    );
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    node.drain().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'draining failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/** `parley worker`: a persist worker (JetStream → MongoDB); SIGTERM finishes the batch in hand, then exits 0. */
async function worker(): Promise<void> {
  const { config } = loadConfig(process.env, { role: 'worker' });
  const logger = createLogger(config.logLevel);
  const { runWorker } = await import('./workers/main.js');
  const running = await runWorker(config, logger);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping the persist worker');
    running.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'stopping the persist worker failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

function main(): void {
  const command = process.argv[2] ?? 'serve';
  if (command !== 'serve' && command !== 'worker') {
    process.stderr.write(`parley: unknown command "${command}" (commands: serve, worker)\n`);
    process.exit(2);
  }
  (command === 'worker' ? worker() : serve()).catch((err: unknown) => {
    if (err instanceof ConfigError) process.stderr.write(`parley: invalid configuration: ${err.message}\n`);
    else if (err instanceof NativeUwsMissingError) process.stderr.write(`parley: ${err.message}\n`);
    else process.stderr.write(`parley: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}

main();
