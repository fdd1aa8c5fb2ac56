# syntax=docker/dockerfile:1
# One image per service from one Dockerfile:
#   docker build --build-arg SERVICE=orders -t cloud-native-shop/orders:0.1.0 .     (or podman build)
# `npm run images` builds all four (with docker or podman) and, where no registry is reachable, a stand-in base
# (scripts/base-image.sh) passed as --build-arg NODE_IMAGE=...
#
# The four builds share their expensive layers: the `build` stage does not depend on SERVICE, so one `npm ci` and
# one `turbo run build` serve all four images, and dependency layers change only with package.json files or the
# lockfile. Each image then gets only what its service runs: the production dependencies of its own workspace
# closure (scripts/prune-lock.mjs cuts the lockfile) and the compiled output of those workspaces.
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

# The package manifests and the lockfile, nothing else: the layers that install from them stay cached until one
# of them changes.
FROM ${NODE_IMAGE} AS manifests
WORKDIR /repo
COPY . .
RUN mkdir /json && cp package-lock.json /json/ \
    && find . -name package.json -not -path '*/node_modules/*' -exec cp --parents {} /json/ \;

# The service's production dependencies (first, so that a wrong SERVICE fails before the long build).
FROM ${NODE_IMAGE} AS deps
ARG SERVICE
RUN case "${SERVICE}" in gateway|orders|inventory|payments) ;; \
      *) echo "build with --build-arg SERVICE=<gateway|orders|inventory|payments> (got '${SERVICE}')" >&2; exit 1 ;; esac
COPY --from=manifests /json/ /manifests/
COPY scripts/prune-lock.mjs /manifests/
WORKDIR /repo
RUN node /manifests/prune-lock.mjs /manifests "${SERVICE}" /repo
RUN --mount=type=cache,target=/root/.npm,sharing=locked \
    npm ci --omit=dev --no-audit --no-fund && rm -rf /root/.npm/_logs

# One build of every workspace the four services need (shared by the four images: no SERVICE here).
FROM ${NODE_IMAGE} AS build
ENV TURBO_TELEMETRY_DISABLED=1
WORKDIR /repo
COPY --from=manifests /json/ ./
# All dependencies of the four services (dev ones included: tsc, buf, ts-proto); no install scripts are needed to
# compile.
RUN --mount=type=cache,target=/root/.npm,sharing=locked \
    npm ci --ignore-scripts --no-audit --no-fund --include-workspace-root \
      -w services/gateway -w services/orders -w services/inventory -w services/payments
# Only what the build reads, so that a change to docs, charts, labs or observability keeps this layer cached.
COPY turbo.json tsconfig.base.json ./
COPY proto/ ./proto/
COPY packages/ ./packages/
# tools/issuer: @shop/testkit (the services' tests) depends on it.
COPY tools/issuer/ ./tools/issuer/
COPY services/ ./services/
RUN npx turbo run build --output-logs=errors-only \
      --filter=@shop/gateway --filter=@shop/orders --filter=@shop/inventory --filter=@shop/payments
# Keep only what runs: each workspace's compiled output (without its tests) and SQL migrations.
RUN mkdir /out && for dir in packages/* services/*; do \
      [ -f "${dir}/package.json" ] || continue; \
      mkdir -p "/out/${dir}"; \
      for sub in dist migrations; do if [ -d "${dir}/${sub}" ]; then cp -R "${dir}/${sub}" "/out/${dir}/"; fi; done; \
      rm -rf "/out/${dir}/dist/test"; \
    done

# The service's workspaces: production node_modules plus the compiled output of exactly those workspaces.
FROM deps AS assemble
COPY --from=build /out/ /out/
RUN while read -r ws; do cp -R "/out/${ws}/." "/repo/${ws}/"; done < /repo/workspaces.txt \
    && rm /repo/workspaces.txt

FROM ${NODE_IMAGE} AS runtime
# The service needs node and nothing else: no package managers in the image.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
      /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-* \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /tmp/*
ENV NODE_ENV=production
WORKDIR /app
# The contracts are read at runtime (gRPC server reflection and the Kafka message schemas).
COPY proto/ ./proto/
ARG SERVICE
COPY --from=assemble /repo/ ./
# Files stay owned by root and read-only for the service user (uid 1000, `node` in the base image), which suits a
# read-only root filesystem in Kubernetes.
USER 1000:1000
WORKDIR /app/services/${SERVICE}
EXPOSE 50051 8080
CMD ["node", "--disable-warning=TimeoutNegativeWarning", "--require", "./dist/src/instrumentation.js", "dist/src/main.js"]
