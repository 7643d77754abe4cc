import type { Env, TraceSampler } from './schema.js';

/** Where spans go while tracing is on (OTEL_TRACES_EXPORTER other than `none`). */
export interface TracingConfig {
  exporter: 'otlp' | 'console';
  /** The OTLP/HTTP traces URL: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces. */
  endpoint: string;
  /** OTEL_EXPORTER_OTLP_HEADERS, decoded (an API key of a hosted collector). */
  headers: Record<string, string>;
  serviceName: string;
  sampler: TraceSampler;
  /** The ratio of the traceidratio samplers (OTEL_TRACES_SAMPLER_ARG, default 1). */
  ratio: number;
}

const DEFAULT_OTLP_ENDPOINT = 'http://localhost:4318';

/** The tracing configuration, or undefined when tracing is off. */
export function tracingConfig(e: Env, role: 'gateway' | 'worker'): TracingConfig | undefined {
  if (e.OTEL_TRACES_EXPORTER === 'none') return undefined;
  const base = (e.OTEL_EXPORTER_OTLP_ENDPOINT ?? DEFAULT_OTLP_ENDPOINT).replace(/\/+$/, '');
  return {
    exporter: e.OTEL_TRACES_EXPORTER,
    endpoint: e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? `${base}/v1/traces`,
    headers: Object.fromEntries(
      e.OTEL_EXPORTER_OTLP_HEADERS.map((pair) => {
        const at = pair.indexOf('=');
        return [decode(pair.slice(0, at).trim()), decode(pair.slice(at + 1).trim())];
      }),
    ),
    serviceName: e.OTEL_SERVICE_NAME ?? (role === 'worker' ? 'parley-worker' : 'parley'),
    sampler: e.OTEL_TRACES_SAMPLER,
    ratio: e.OTEL_TRACES_SAMPLER_ARG ?? 1,
  };
}

/** Percent-decoding as the specification asks; a malformed escape is kept as written. */
function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
