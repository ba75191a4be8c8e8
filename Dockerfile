# syntax=docker/dockerfile:1
# jitbot's image. Every runtime dependency comes from requirements/runtime.lock, each file checked against its
# SHA-256 (--require-hashes) and nothing resolved beyond it (--no-deps); jitbot itself is then installed from
# its own wheel, again with --no-deps. Build with the commit baked in (`jitbot --version` prints it):
#   docker build --build-arg JITBOT_COMMIT="$(git rev-parse HEAD)" -t jitbot .
# For byte-for-byte rebuilds, pin the base image by digest as well:
#   --build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:<digest>
# Refresh the locks with deploy/lock.sh; deploy/sbom.sh writes the SBOM of the locked set.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# checkov:skip=CKV_DOCKER_7:the base is the ARG above, a version tag (or a digest); checkov cannot read ARGs in FROM

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY requirements/runtime.lock requirements/build.lock ./requirements/
# setuptools and wheel (hash-checked too) build jitbot's wheel; they stay in this stage
RUN python -m venv /opt/build \
 && /opt/build/bin/pip install --require-hashes --no-deps -r requirements/build.lock
RUN python -m venv /opt/jitbot \
 && /opt/jitbot/bin/pip install --require-hashes --no-deps -r requirements/runtime.lock
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY core ./core
COPY handlers ./handlers
COPY store ./store
COPY aws ./aws
# pip check fails the build if the lock misses a dependency of anything installed
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/wheels . \
 && /opt/jitbot/bin/pip install --no-deps /tmp/wheels/jitbot-*.whl \
 && /opt/jitbot/bin/pip check

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 jitbot \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --create-home --shell /usr/sbin/nologin jitbot
COPY --from=build /opt/jitbot /opt/jitbot
COPY policies.toml /app/policies.toml
RUN mkdir -p /app/data && chown 10001:10001 /app/data
ENV PATH=/opt/jitbot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    JIT_POLICIES=/app/policies.toml \
    DATABASE_URL=sqlite:////app/data/jitbot.db \
    PORT=3000
WORKDIR /app
USER 10001:10001
EXPOSE 3000
# liveness only: readiness (/healthz?ready=1) also needs the database and Slack, which docker-compose.yml
# and the Kubernetes Deployment check for load balancing
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '3000')}/healthz\", timeout=2)"]
# last, so that a new commit rebuilds only these layers
ARG JITBOT_COMMIT=unknown
LABEL org.opencontainers.image.title="jitbot" \
      org.opencontainers.image.description="Slack ChatOps bot for just-in-time, approved SSM access to AWS nodes" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.revision="${JITBOT_COMMIT}"
ENV JITBOT_COMMIT=${JITBOT_COMMIT}
CMD ["jitbot", "serve"]
