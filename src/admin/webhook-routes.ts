import { DependencyError, ParleyError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { WebhookAdmin } from '../webhooks/webhook-admin.js';
import { intParam, type RouteContext, type RouteHandler } from './routes.js';

export type WebhookAdminApi = Pick<WebhookAdmin, 'summary' | 'pending' | 'failed' | 'replay' | 'replayAll'>;

type Route = (method: 'get' | 'post', pattern: string, params: number, handler: RouteHandler) => void;
type Audit = (ctx: RouteContext, action: string, target: Record<string, string>, details: Record<string, unknown>) => void;

/**
 * `/admin/webhooks...` (docs/admin-api.md, "Webhooks"): what waits for delivery, what was
 * dead-lettered, and replays. Without WEBHOOK_URL every one answers 404 saying so.
 */
export function mountWebhookRoutes(route: Route, admin: (() => WebhookAdminApi) | undefined, audit: Audit, logger: Logger): void {
  const api = async <T>(what: string, call: (a: WebhookAdminApi) => Promise<T>): Promise<T> => {
    if (!admin) throw new ParleyError('not_found', 'webhooks are off: WEBHOOK_URL is not set');
    try {
      return await call(admin());
    } catch (err) {
      if (err instanceof ParleyError) throw err;
      logger.error({ err, what }, 'reading or replaying webhook events failed');
      throw new DependencyError('webhooks', 'the webhook streams are unavailable, retry', { cause: err });
    }
  };

  route('get', '/admin/webhooks', 0, async () => ({ status: 200, body: await api('summary', (a) => a.summary()) }));

  route('get', '/admin/webhooks/pending', 0, async ({ query }) => {
    const page = await api('pending', (a) => a.pending(seqCursor(query), intParam(query, 'limit', 1, 100) ?? 50));
    return { status: 200, body: { events: page.items, next: page.next } };
  });

  route('get', '/admin/webhooks/failed', 0, async ({ query }) => {
    const page = await api('failed', (a) => a.failed(seqCursor(query), intParam(query, 'limit', 1, 100) ?? 50));
    return { status: 200, body: { failed: page.items, next: page.next } };
  });

  route('post', '/admin/webhooks/failed/replay', 0, async (ctx) => {
    const result = await api('replay all', (a) => a.replayAll());
    audit(ctx, 'webhook-replay', { failed: 'all' }, result);
    return { status: 200, body: result };
  });

  route('post', '/admin/webhooks/failed/:seq/replay', 1, async (ctx) => {
    const raw = ctx.params[0] ?? '';
    if (!/^[1-9][0-9]{0,15}$/.test(raw)) throw new ParleyError('bad_request', 'seq must be a positive integer');
    const outcome = await api('replay', (a) => a.replay(Number(raw)));
    if (outcome === 'missing') throw new ParleyError('not_found', `no dead-lettered webhook event at seq ${raw}`);
    if (outcome === 'unreadable') throw new ParleyError('bad_request', `the dead letter at seq ${raw} is not a webhook event: it cannot be replayed`);
    audit(ctx, 'webhook-replay', { failed: raw }, { replayed: 1 });
    return { status: 200, body: { replayed: 1 } };
  });
}

function seqCursor(query: URLSearchParams): number | undefined {
  const c = query.get('cursor');
  if (c === null || c === '') return undefined;
  if (!/^[1-9][0-9]{0,15}$/.test(c)) throw new ParleyError('bad_request', 'cursor must be the `next` of a previous page');
  return Number(c);
}
