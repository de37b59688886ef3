# One image per service, chosen at build time:
#   docker build --build-arg SERVICE=orders -t grpc-shop-mesh/orders:dev .
# SERVICE: a service of mesh.yaml, or gateway (any folder of services/ with a main.ts)
#
# Runs as uid 10001 with a read-only root filesystem: the SQLite folder (/data), the topology
# (/etc/mesh) and the certificates (/etc/mesh/certs) are mounted volumes (deploy/k8s/).
# No HEALTHCHECK: Kubernetes probes gRPC health on MESH_HEALTH_PORT instead.
# Checked offline in CI without a Docker engine: scripts/deploy/image-context.ts, which also
# checks that the runtime stage holds every file the code reads (scripts/deploy/runtime-files.ts).

ARG NODE_IMAGE=node:24-bookworm-slim

# All dependencies (sqlite3 compiles from source: python3, make, g++), then the TypeScript build.
FROM ${NODE_IMAGE} AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# npm ci's install step compiles native/ (malloc_trim, see mesh/process/malloc-trim.ts).
COPY native ./native
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY gen ./gen
COPY mesh ./mesh
COPY services ./services
COPY scripts ./scripts
RUN npm run build
ARG SERVICE
# The services are those the build made a main.js for: the list is mesh.yaml's, not repeated here.
RUN if [ -z "$SERVICE" ] || [ ! -f "dist/services/$SERVICE/main.js" ]; then \
      echo "SERVICE must name a service with a main.ts: one of" \
        $(cd dist/services && ls */main.js | sed 's,/main.js,,') ", got '$SERVICE'" >&2; \
      exit 1; \
    fi \
    && ln -s "services/$SERVICE/main.js" dist/main.js
# Production dependencies only, compiled here so the runtime needs no compiler. The image runs
# the compiled modules, not start:all's one-file bundles (dist/bundle): they pay off with Node's
# compile cache, which a read-only root filesystem could not keep.
RUN npm prune --omit=dev --no-audit --no-fund && rm -rf dist/bundle dist/.compile-cache

FROM ${NODE_IMAGE} AS runtime
# Two malloc arenas, as start:all gives its members (scripts/members.ts): glibc's default of up
# to 8 per core keeps 1–2 MB more resident in an idle member.
ENV NODE_ENV=production \
    MESH_DATA_DIR=/data \
    MESH_HOST=0.0.0.0 \
    MALLOC_ARENA_MAX=2
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/native/build/Release/malloc_trim.node ./native/build/Release/malloc_trim.node
COPY --from=build /app/gen/descriptor-set.binpb ./gen/descriptor-set.binpb
# The dashboard's page, script and style, which the gateway serves from the source tree.
COPY services/gateway/dashboard/public ./services/gateway/dashboard/public
# The default topology; Kubernetes mounts its ConfigMap and sets MESH_TOPOLOGY instead.
COPY mesh.yaml ./
USER 10001:10001
CMD ["node", "dist/main.js"]
