import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { startTracing } from '../../src/tracing-sdk.js';
import { SpanKind, startSpan, endSpan, traceFromHeaders, traceHeaders } from '../../src/shared/tracing.js';

/** OTEL_* variables: tracing is off by default, on with an exporter, and a bad value names its variable. */

const KEYED = { JWT_SECRET: 's'.repeat(32) };

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig({ ...KEYED, ...env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`accepted: ${JSON.stringify(env)}`);
}

describe('tracing configuration', () => {
  it('is off unless an exporter is named', () => {
    expect(loadConfig(KEYED).config.tracing).toBeUndefined();
    expect(loadConfig({ ...KEYED, OTEL_TRACES_EXPORTER: 'none', OTEL_SERVICE_NAME: 'x' }).config.tracing).toBeUndefined();
  });

  it('takes the specification defaults, and a service name by role', () => {
    expect(loadConfig({ ...KEYED, OTEL_TRACES_EXPORTER: 'otlp' }).config.tracing).toEqual({
      exporter: 'otlp',
      endpoint: 'http://localhost:4318/v1/traces',
      headers: {},
      serviceName: 'parley',
      sampler: 'parentbased_always_on',
      ratio: 1,
    });
    expect(loadConfig({ OTEL_TRACES_EXPORTER: 'otlp' }, { role: 'worker' }).config.tracing?.serviceName).toBe('parley-worker');
  });

  it('appends /v1/traces to the base endpoint, takes the traces endpoint as it is, and decodes headers', () => {
    const base = loadConfig({ ...KEYED, OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/', OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=a%20b, x-team = chat' });
    expect(base.config.tracing).toMatchObject({ endpoint: 'http://collector:4318/v1/traces', headers: { 'x-api-key': 'a b', 'x-team': 'chat' } });
    const full = loadConfig({ ...KEYED, OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://tempo:4318/otlp/v1/traces' });
    expect(full.config.tracing?.endpoint).toBe('https://tempo:4318/otlp/v1/traces');
    const sampled = loadConfig({ ...KEYED, OTEL_TRACES_EXPORTER: 'console', OTEL_SERVICE_NAME: 'chat-eu', OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' });
    expect(sampled.config.tracing).toMatchObject({ exporter: 'console', serviceName: 'chat-eu', sampler: 'parentbased_traceidratio', ratio: 0.25 });
  });

  it('names the variable of a bad value', () => {
    expect(configError({ OTEL_TRACES_EXPORTER: 'jaeger' }).variable).toBe('OTEL_TRACES_EXPORTER');
    expect(configError({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }).variable).toBe('OTEL_EXPORTER_OTLP_ENDPOINT');
    expect(configError({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'grpc://collector:4317' }).variable).toBe('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
    expect(configError({ OTEL_TRACES_SAMPLER: 'sometimes' }).variable).toBe('OTEL_TRACES_SAMPLER');
    expect(configError({ OTEL_TRACES_SAMPLER_ARG: '1.5' }).variable).toBe('OTEL_TRACES_SAMPLER_ARG');
    expect(configError({ OTEL_TRACES_SAMPLER_ARG: 'half' }).variable).toBe('OTEL_TRACES_SAMPLER_ARG');
    const headers = configError({ OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=secret,novalue' });
    expect(headers.variable).toBe('OTEL_EXPORTER_OTLP_HEADERS');
    expect(headers.message).not.toContain('secret');
  });
});

describe('trace context in headers', () => {
  it('round-trips a span context as W3C traceparent, and reads none from headers without one', async () => {
    const tracing = await startTracing(loadConfig({ ...KEYED, OTEL_TRACES_EXPORTER: 'console', OTEL_TRACES_SAMPLER: 'always_off' }).config.tracing, 'unit');
    if (!tracing) throw new Error('tracing did not start');
    const ctx = startSpan(tracing.tracer, 'unit', SpanKind.INTERNAL, undefined, 'room', 1);
    const carried = traceHeaders(ctx);
    expect(Object.keys(carried)).toEqual(['traceparent']);
    // always_off: the context travels, marked not sampled, so the other side does not sample either.
    expect(carried['traceparent']).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    const reader = (h: Record<string, string>) => ({ get: (k: string) => h[k] ?? '', keys: () => Object.keys(h) });
    expect(traceFromHeaders(reader(carried))).toBeDefined();
    expect(traceFromHeaders(reader({ 'Nats-Msg-Id': 'r:1' }))).toBeUndefined();
    expect(traceFromHeaders(undefined)).toBeUndefined();
    endSpan(ctx);
    await tracing.shutdown();
  });
});

describe('the OTLP exporter', () => {
  it('posts the spans to the configured endpoint, with the service name and the configured headers', async () => {
    const posts: { url: string | undefined; headers: IncomingMessage['headers']; body: string }[] = [];
    let received!: () => void;
    const arrived = new Promise<void>((resolve) => (received = resolve));
    const collector = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        posts.push({ url: req.url, headers: req.headers, body });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        received();
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = collector.address() as AddressInfo;
      const env = { ...KEYED, OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=k1', OTEL_SERVICE_NAME: 'parley-unit' };
      const tracing = await startTracing(loadConfig(env).config.tracing, 'node-1');
      if (!tracing) throw new Error('tracing did not start');
      endSpan(startSpan(tracing.tracer, 'parley.send', SpanKind.SERVER, undefined, 'lobby', 7));
      // Shutdown exports what the batch processor holds.
      await tracing.shutdown();
      await arrived;
      expect(posts[0]?.url).toBe('/v1/traces');
      expect(posts[0]?.headers['x-api-key']).toBe('k1');
      const body = posts[0]?.body ?? '';
      for (const text of ['parley.send', 'parley-unit', 'node-1', 'parley.room', 'lobby']) expect(body).toContain(text);
    } finally {
      collector.close();
    }
  });
});
