import { ENV_DESCRIPTIONS } from '../config/descriptions.js';
import { envSchema } from '../config/schema.js';

const COMMANDS: ReadonlyArray<readonly [string, string]> = [
  ['serve', 'run one gateway node (the default command)'],
  ['worker', 'run a persist worker: JetStream queue to MongoDB (needs NATS_URL and MONGODB_URL)'],
  ['token --user U [--rooms R] [--ttl S]', 'print a token signed with the configured key (dev mode: DEV_SECRETS_FILE); R: comma-separated rooms (default: no claim, AUTH_DEFAULT_ROOMS applies), S: seconds (default 3600)'],
  ['help, --help, -h', 'print this help'],
];

/** The schema's default of one variable, as the help shows it. */
function shownDefault(name: keyof typeof envSchema.shape): string {
  const parsed = envSchema.shape[name].safeParse(undefined);
  if (!parsed.success || parsed.data === undefined) return 'unset';
  if (Array.isArray(parsed.data)) return parsed.data.length === 0 ? 'unset' : parsed.data.join(',');
  return String(parsed.data);
}

/** `parley --help`: the commands, and every variable of the config schema with its default. */
export function helpText(): string {
  const names = Object.keys(envSchema.shape) as (keyof typeof envSchema.shape)[];
  const rows = names.map((name) => [`${name}=${shownDefault(name)}`, ENV_DESCRIPTIONS[name]] as const);
  const width = Math.max(...rows.map(([left]) => left.length), ...COMMANDS.map(([left]) => left.length)) + 2;
  const line = ([left, right]: readonly [string, string]) => `  ${left.padEnd(width)}${right}`;
  return [
    'parley: real-time chat server (WebSocket and Socket.IO gateway, persist worker)',
    '',
    'Usage: parley [command] [options]',
    '',
    'Commands:',
    ...COMMANDS.map(line),
    '',
    'Configuration: environment variables only, shown as NAME=default.',
    'With no JWT key configured, `serve` runs in dev mode: everything in memory, demo page, /dev/token.',
    '',
    ...rows.map(line),
    '',
  ].join('\n');
}
