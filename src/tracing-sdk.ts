import type { Tracer } from '@opentelemetry/api';
import type * as SdkTraceBase from '@opentelemetry/sdk-trace-base';
import type { Sampler } from '@opentelemetry/sdk-trace-base';
import type { TracingConfig } from './config/index.js';

/** A running OpenTelemetry SDK: its tracer for the components, and the export flush on shutdown. */
export interface Tracing {
  readonly tracer: Tracer;
  /** Exports the spans still buffered, then stops exporting. Idempotent. */
  shutdown(): Promise<void>;
}

/**
 * Starts the OpenTelemetry SDK for `config` (TracingConfig, from the OTEL_* variables), or does
 * nothing when tracing is off: the SDK and the exporter are loaded only then. The provider is
 * not registered globally: its tracer is handed to the components that make spans.
 */
export async function startTracing(config: TracingConfig | undefined, instanceId: string): Promise<Tracing | undefined> {
  if (!config) return undefined;
  const [sdk, { resourceFromAttributes }] = await Promise.all([import('@opentelemetry/sdk-trace-base'), import('@opentelemetry/resources')]);
  const exporter =
    config.exporter === 'console'
      ? new sdk.ConsoleSpanExporter()
      : new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter({ url: config.endpoint, headers: config.headers });
  const provider = new sdk.BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': config.serviceName, 'service.instance.id': instanceId }),
    sampler: sampler(sdk, config),
    spanProcessors: [new sdk.BatchSpanProcessor(exporter)],
  });
  let stopped: Promise<void> | undefined;
  return { tracer: provider.getTracer('parley'), shutdown: () => (stopped ??= provider.shutdown()) };
}

type Sdk = typeof SdkTraceBase;

function sampler(sdk: Sdk, config: TracingConfig): Sampler {
  const root = (name: string): Sampler => {
    if (name === 'always_on') return new sdk.AlwaysOnSampler();
    if (name === 'always_off') return new sdk.AlwaysOffSampler();
    return new sdk.TraceIdRatioBasedSampler(config.ratio);
  };
  const name = config.sampler;
  return name.startsWith('parentbased_') ? new sdk.ParentBasedSampler({ root: root(name.slice('parentbased_'.length)) }) : root(name);
}
