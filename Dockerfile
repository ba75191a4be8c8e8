# syntax=docker/dockerfile:1
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/jitbot
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY core ./core
COPY handlers ./handlers
COPY store ./store
COPY aws ./aws
RUN /opt/jitbot/bin/pip install --no-cache-dir '.[postgres]'

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app --create-home jitbot
COPY --from=build /opt/jitbot /opt/jitbot
COPY policies.toml /app/policies.toml
ENV PATH=/opt/jitbot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    JIT_POLICIES=/app/policies.toml \
    DATABASE_URL=sqlite:////app/data/jitbot.db \
    PORT=3000
WORKDIR /app
RUN mkdir -p /app/data && chown jitbot /app/data
USER 10001
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '3000')}/healthz\", timeout=2)"]
CMD ["jitbot", "serve"]
