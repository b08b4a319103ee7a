# The one vouch image: every Task step (`vouch task <stage>`) and the sidecar (`vouch sidecar`) run it.
#   docker build -t ghcr.io/vouch-dev/vouch:0.1.0 .
# Reproducible for a given base digest, lockfile and Debian snapshot: build with
#   docker buildx build --build-arg SOURCE_DATE_EPOCH=0 --output type=docker,rewrite-timestamp=true ...
# TypeScript runs natively on Node 24 (type stripping), so there is no build step: the image carries src/ as is.
# Runtime dependencies are package.json's "dependencies" (typescript and eslint among them: the lint stage type-checks
# and lints the repository under test); devDependencies (mocha, the npm `node` runtime, ...) stay out.

# node:24-bookworm-slim (Node 24.18.0), pinned by digest; refresh the digest, never float the tag
ARG NODE_IMAGE=node:24-bookworm-slim@sha256:6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d

FROM ${NODE_IMAGE} AS deps
WORKDIR /opt/vouch
COPY package.json package-lock.json ./
# no dependency needs an install script at run time (package.json allowScripts lists only the dev-only `node`)
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

FROM ${NODE_IMAGE}
ARG SOURCE_DATE_EPOCH
# git for clone and every stage that reads the change; openssh-client (ssh-keygen) and gnupg verify commit signatures
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client gnupg ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log
WORKDIR /opt/vouch
COPY --from=deps /opt/vouch/node_modules ./node_modules
COPY package.json ./
COPY src ./src
COPY tasks ./tasks
COPY pipelines ./pipelines
# 65532: the conventional nonroot uid; the sidecar's Deployment and Tekton pods run as it too
USER 65532:65532
ENV NODE_ENV=production HOME=/tmp
ENTRYPOINT ["node", "/opt/vouch/src/cli/main.ts"]
CMD ["--help"]
