import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Link, type Span, type TextMapGetter, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';

export { SpanKind, type Context as TraceContext, type Tracer };

/**
 * Span attribute names (docs/operations.md, "Tracing"). Spans name rooms, seqs and counts,
 * never a message body, a token or a user.
 */
export const ATTR = {
  room: 'parley.room',
  seq: 'parley.seq',
  dup: 'parley.dup',
  messages: 'parley.messages',
  delivery: 'parley.delivery',
  outcome: 'parley.outcome',
} as const;

/** W3C trace context (`traceparent`, `tracestate`): stateless, so one instance serves every caller. */
const w3c = new W3CTraceContextPropagator();

/** Headers as NATS carries them (nats.js MsgHdrs has this shape). */
export interface HeaderReader {
  get(key: string): string;
  keys(): string[];
}

const headerGetter: TextMapGetter<HeaderReader> = {
  get: (carrier, key) => carrier.get(key) || undefined,
  keys: (carrier) => carrier.keys(),
};

/** The trace context of `ctx` as message headers (empty when `ctx` holds no valid span). */
export function traceHeaders(ctx: Context): Record<string, string> {
  const out: Record<string, string> = {};
  w3c.inject(ctx, out, { set: (carrier: Record<string, string>, key, value) => (carrier[key] = value) });
  return out;
}

/** The remote parent carried in `headers`, or undefined when they carry none. */
export function traceFromHeaders(headers: HeaderReader | undefined): Context | undefined {
  if (!headers) return undefined;
  const ctx = w3c.extract(ROOT_CONTEXT, headers, headerGetter);
  return trace.getSpanContext(ctx) ? ctx : undefined;
}

/**
 * Starts a span, child of `parent` (a root span without one), with the room and seq when given.
 * Callers hold a tracer only while tracing is on: with tracing off nothing reaches here.
 */
export function startSpan(tracer: Tracer, name: string, kind: SpanKind, parent: Context | undefined, room?: string, seq?: number, links?: Link[]): Context {
  const attributes: Attributes = {};
  if (room !== undefined) attributes[ATTR.room] = room;
  if (seq !== undefined) attributes[ATTR.seq] = seq;
  const base = parent ?? ROOT_CONTEXT;
  return trace.setSpan(base, tracer.startSpan(name, { kind, attributes, ...(links && links.length > 0 ? { links } : {}) }, base));
}

/** Ends the span of `ctx`, marking it failed with `err`'s type and message when given. */
export function endSpan(ctx: Context, err?: unknown): void {
  const span = trace.getSpan(ctx);
  if (!span) return;
  if (err !== undefined) failed(span, err);
  span.end();
}

/** Sets attributes on the span of `ctx`; a no-op without one (tracing off). */
export function annotate(ctx: Context | undefined, attributes: Attributes): void {
  if (ctx) trace.getSpan(ctx)?.setAttributes(attributes);
}

/**
 * Runs `work` in a span that ends when it settles. Without a tracer (tracing off) it is
 * `work(undefined)`: no span, no context, nothing for the message path to carry.
 */
export function inSpan<T>(
  tracer: Tracer | undefined,
  name: string,
  kind: SpanKind,
  parent: Context | undefined,
  room: string | undefined,
  seq: number | undefined,
  work: (ctx: Context | undefined) => Promise<T>,
): Promise<T> {
  if (!tracer) return work(undefined);
  return settle(startSpan(tracer, name, kind, parent, room, seq), work);
}

/** The parent and links of a span that handles several traced messages at once: the first is its parent, every other one a link. */
export function batchParent(traces: readonly (Context | undefined)[]): { parent: Context | undefined; links: Link[] } {
  let parent: Context | undefined;
  const links: Link[] = [];
  for (const ctx of traces) {
    const sc = ctx && trace.getSpanContext(ctx);
    if (!ctx || !sc) continue;
    if (parent) links.push({ context: sc });
    else parent = ctx;
  }
  return { parent, links };
}

/**
 * Runs `work` in a span over a batch of messages, child of the first traced one and linked to
 * the others (`traces` is read only while tracing is on).
 */
export function inBatchSpan<T>(tracer: Tracer | undefined, name: string, count: number, traces: () => (Context | undefined)[], work: (ctx: Context | undefined) => Promise<T>): Promise<T> {
  if (!tracer) return work(undefined);
  const { parent, links } = batchParent(traces());
  const ctx = startSpan(tracer, name, SpanKind.CONSUMER, parent, undefined, undefined, links);
  annotate(ctx, { [ATTR.messages]: count });
  return settle(ctx, work);
}

function settle<T>(ctx: Context, work: (ctx: Context) => Promise<T>): Promise<T> {
  let running: Promise<T>;
  try {
    running = work(ctx);
  } catch (err) {
    endSpan(ctx, err);
    throw err;
  }
  return running.then(
    (result) => {
      endSpan(ctx);
      return result;
    },
    (err: unknown) => {
      endSpan(ctx, err);
      throw err;
    },
  );
}

function failed(span: Span, err: unknown): void {
  const error = err instanceof Error ? err : new Error(String(err));
  span.recordException(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
}
