# sre-quero webhook image.
#   docker build -t <registry>/sre-quero:0.1.0 .
#
# Node.js 24 "Krypton" LTS (supported until 2028-04-30), pinned to an exact
# release. Bump NODE_IMAGE deliberately; to pin the bytes as well, append the
# index digest: node:24.20.0-bookworm-slim@sha256:<digest>.
ARG NODE_IMAGE=node:24.20.0-bookworm-slim

# ---- build: compile TypeScript, then assemble the runtime tree -------------
FROM ${NODE_IMAGE} AS build
ENV NPM_CONFIG_UPDATE_NOTIFIER=false
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY deploy/image/assemble.sh ./deploy/image/assemble.sh
# assemble.sh decides what the final stage contains: dist/bin.js (the server
# and its locked runtime dependencies, bundled by esbuild) and package.json.
RUN npm run build \
 && sh deploy/image/assemble.sh /src /out

# ---- runtime ---------------------------------------------------------------
FROM ${NODE_IMAGE}
ENV NODE_ENV=production
# glibc gives each thread that allocates its own malloc arena (up to 8 per
# core: V8's workers, libuv's pool); two are plenty for one event loop and
# keep ~10 MiB of half-used arenas out of the RSS (bench/reconciler.ts).
ENV MALLOC_ARENA_MAX=2
# Owned by root, not writable by the server: the process writes nothing at
# runtime (it reads its TLS and settings files from mounted volumes), so the
# root filesystem can be read-only.
COPY --from=build /out /app
WORKDIR /app
# A numeric uid/gid (no passwd entry needed), so runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8443
# --max-semi-space-size=2 (MiB): V8's young generation grows to 16 MiB and
# more per semi-space by default, and the reconciler's lists (5,000 pods)
# leave it there. With MALLOC_ARENA_MAX=2 the process with the reconciler at
# 5,000 pods stays at ~140 MiB (bench/reconciler.ts). Not --optimize-for-size:
# it saves ~20 MiB more but pins the young generation at 1 MiB and costs the
# webhook ~30% more CPU per admission review (bench/https.ts, 2026-11-23).
# The benchmarks (bench/image-runtime.ts) and the test image
# (test/cluster/build/images.sh) read this line and the ENV lines above, so
# they run what ships.
ENTRYPOINT ["node", "--max-semi-space-size=2", "/app/dist/bin.js"]
CMD ["serve"]
