#!/usr/bin/env node
import { resolve } from 'node:path';
import { helpText } from './cli/help.js';
import { tokenCommand, UsageError } from './cli/token.js';
import { ConfigError, fileDevSecrets, loadConfig } from './config/index.js';
import { createNode, startTracing, type Tracing } from './main.js';
import type { Logger } from './shared/logger.js';
import { ListenError } from './node.js';
import { DependencyError } from './shared/dependency.js';
import { createLogger } from './shared/logger.js';
import { NativeUwsMissingError } from './gateway/uws.js';

/** `parley` (or `parley serve`): one gateway node configured from the environment. */
async function serve(): Promise<void> {
  const { config, devSecretsFile } = loadConfig(process.env, { devSecrets: fileDevSecrets });
  const logger = createLogger(config.logLevel);
  const tracing = await startTracing(config.tracing, config.nodeId);
  const node = createNode(config, logger, tracing?.tracer);
  const port = await node.start();
  const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
  logger.info({ node: config.nodeId, host: config.host, port, ...(node.adminPort !== undefined ? { adminPort: node.adminPort } : {}), devMode: config.devMode }, 'parley is listening');
  // With ADMIN_PORT the dev token is minted on the admin listener.
  const tokenPort = node.adminPort ?? port;
  if (config.devMode) {
    // To the terminal, not the log; the secrets themselves stay in their file.
    process.stdout.write(
      [
        '',
        `  Parley (dev mode) on http://${host}:${port}`,
        `  WebSocket:   ws://${host}:${port}/ws?token=<jwt>`,
        `  Socket.IO:   http://${host}:${port}  (auth: { token })`,
        `  Get a token: npm run -s parley -- token --user alice   (or POST http://${host}:${tokenPort}/dev/token {"user":"alice"})`,
        ...(devSecretsFile !== undefined ? [`  Dev secrets: ${resolve(devSecretsFile)} (JWT secret, admin token; kept across restarts)`] : []),
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
    node.drain().then(() => flushSpans(tracing, logger)).then(
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
  const { runWorker } = await import('./worker.js');
  const tracing = await startTracing(config.tracing, config.nodeId);
  const running = await runWorker(config, logger, {}, tracing?.tracer);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping the persist worker');
    running.close().then(() => flushSpans(tracing, logger)).then(
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

/** Exports the spans still buffered before the process exits; a collector that is down costs them, not the exit. */
async function flushSpans(tracing: Tracing | undefined, logger: Logger): Promise<void> {
  await tracing?.shutdown().catch((err: unknown) => logger.warn({ err }, 'exporting the last spans failed'));
}

/** Failures a person can fix from one line; anything else keeps its stack. */
const ONE_LINE = [NativeUwsMissingError, DependencyError, ListenError];

function fail(err: unknown): never {
  if (err instanceof UsageError) {
    process.stderr.write(`parley: ${err.message} (see parley --help)\n`);
    process.exit(2);
  }
  if (err instanceof ConfigError) process.stderr.write(`parley: invalid configuration: ${err.message}\n`);
  else if (ONE_LINE.some((type) => err instanceof type)) process.stderr.write(`parley: ${(err as Error).message}\n`);
  else process.stderr.write(`parley: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}

function main(): void {
  const [command = 'serve', ...args] = process.argv.slice(2);
  switch (command) {
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(helpText());
      return;
    case 'token':
      tokenCommand(args, process.env).then((token) => process.stdout.write(`${token}\n`), fail);
      return;
    case 'serve':
    case 'worker':
      (command === 'worker' ? worker() : serve()).catch(fail);
      return;
    default:
      process.stderr.write(`parley: unknown command "${command}" (commands: serve, worker, token, help)\n`);
      process.exit(2);
  }
}

main();
