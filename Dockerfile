# Parley: one image for gateways (`node dist/cli.js`, the default) and persist workers
# (`node dist/cli.js worker`). docker-compose.yml runs the whole cluster from it.

# Build stage: every dependency, then the server (tsc), the SDK (packages/client, a workspace
# the demo page bundles from source) and the demo page (esbuild).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY packages/client/package.json ./packages/client/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build-web.mjs ./scripts/
COPY src ./src
COPY packages/client/tsconfig.json ./packages/client/
COPY packages/client/src ./packages/client/src
COPY web ./web
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# Runtime stage: production dependencies and the build output only, as the unprivileged `node` user.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --from=build --chown=node:node /app/web/dist ./web/dist
USER node
EXPOSE 8080
# Liveness (GET /healthz): on ADMIN_PORT when set (a gateway serves it on both ports, a worker
# only there), else on PORT. A worker without ADMIN_PORT serves no HTTP and reports unhealthy.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.ADMIN_PORT || process.env.PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/cli.js"]
