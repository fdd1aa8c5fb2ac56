# syntax=docker/dockerfile:1
# One image per service from one Dockerfile:
#   docker build --build-arg SERVICE=orders -t cloud-native-shop/orders:0.1.0 .
# The build context is the repository; `turbo prune` cuts it down to the service and the workspace packages it
# depends on, so an image never sees another service's code and its npm layers change only with its own lockfile
# entries.
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

FROM ${NODE_IMAGE} AS prune
ARG SERVICE
RUN case "${SERVICE}" in gateway|orders|inventory|payments) ;; \
      *) echo "build with --build-arg SERVICE=<gateway|orders|inventory|payments> (got '${SERVICE}')" >&2; exit 1 ;; esac
# Same turbo version as the root package.json devDependency.
RUN npm install --global --no-audit --no-fund turbo@2.11.11
WORKDIR /repo
COPY . .
RUN turbo prune "@shop/${SERVICE}" --docker --out-dir /pruned

FROM ${NODE_IMAGE} AS build
ARG SERVICE
WORKDIR /repo
# Dependencies first (package.json files and the pruned lockfile): this layer is cached until they change.
COPY --from=prune /pruned/json/ ./
RUN npm ci --no-audit --no-fund
COPY --from=prune /pruned/full/ ./
RUN npx turbo run build --filter="@shop/${SERVICE}..."
# Keep only what runs: each workspace's package.json, compiled output and SQL migrations.
RUN mkdir /out && for dir in packages/* services/*; do \
      [ -f "${dir}/package.json" ] || continue; \
      mkdir -p "/out/${dir}" && cp "${dir}/package.json" "/out/${dir}/"; \
      for sub in dist migrations; do if [ -d "${dir}/${sub}" ]; then cp -R "${dir}/${sub}" "/out/${dir}/"; fi; done; \
      rm -rf "/out/${dir}/dist/test"; \
    done

FROM ${NODE_IMAGE} AS deps
WORKDIR /repo
COPY --from=prune /pruned/json/ ./
# Production dependencies only; workspace packages are linked into node_modules/@shop/.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ARG SERVICE
# The service needs node and nothing else: no package managers in the image.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
      /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-* \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /tmp/*
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /repo/ ./
COPY --from=build /out/ ./
# The contracts are read at runtime (gRPC server reflection and the Kafka message schemas).
COPY proto/ ./proto/
# Files stay owned by root and read-only for the service user (uid 1000, `node` in the base image), which suits a
# read-only root filesystem in Kubernetes.
USER 1000:1000
WORKDIR /app/services/${SERVICE}
EXPOSE 50051 8080
CMD ["node", "--disable-warning=TimeoutNegativeWarning", "--require", "./dist/src/instrumentation.js", "dist/src/main.js"]
