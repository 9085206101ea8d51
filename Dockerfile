# syntax=docker/dockerfile:1
# jiangxin (匠心) API image. Build: docker build -t jiangxin .
# Run it with docker-compose.yml, or on its own with MONGODB_URI, REDIS_URL,
# JWT_SECRET, WECHAT_APP_ID and WECHAT_APP_SECRET set (docs/operations.md).

ARG PYTHON_IMAGE=python:3.11-slim

# ---- builder: every dependency, pinned by requirements.lock, into /opt/venv ----------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src

# Dependencies first, in their own layer: it is rebuilt only when pyproject.toml or
# requirements.lock change, not on every code change. The runtime list is read from
# pyproject.toml (no dev extras).
COPY pyproject.toml requirements.lock ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/runtime-deps.txt \
 && pip install --constraint requirements.lock -r /tmp/runtime-deps.txt

# Then the project itself (not editable). It gives the venv the package metadata that
# /openapi.json reads its version from; the code that runs is the copy in /app (below).
COPY server/ server/
COPY handlers/ handlers/
COPY media/ media/
COPY config/ config/
RUN pip install --constraint requirements.lock --no-deps .

# ---- demo-art: the demo covers, portraits and check-in photos, drawn here so that the tools stay out --
# of the image. `python -m server seed` (refused in production; APP_ENV=development to
# demo the image) reads /app/demo and /app/.data/demo-art, its defaults.
FROM builder AS demo-art
COPY tools/__init__.py tools/demo_art.py tools/demo_photos.py tools/
COPY demo/ demo/
RUN python -m tools.demo_art --data demo --out /demo-art \
 && python -m tools.demo_photos --out /demo-art

# ---- runtime: the venv, the source tree, a non-root user ------------------------------
FROM ${PYTHON_IMAGE} AS runtime

RUN groupadd --system --gid 10001 jiangxin \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin jiangxin

COPY --from=builder /opt/venv /opt/venv

# The app runs from its source tree: `python -m server` puts the working directory
# first on sys.path, so /app/server shadows the copy installed in the venv (both carry
# server/static/, the docs page, as package data).
WORKDIR /app
COPY pyproject.toml ./
COPY server/ server/
COPY handlers/ handlers/
COPY media/ media/
COPY config/ config/
COPY demo/ demo/
COPY --from=demo-art /demo-art/ .data/demo-art/
# Files stay root-owned (read-only to the app); byte-compile now since it cannot later.
RUN python -m compileall -q /app

ENV APP_ENV=production \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PATH=/opt/venv/bin:$PATH

USER 10001:10001

EXPOSE 8080

# Liveness only: /readyz also needs MongoDB and Redis, and the app keeps serving without
# Redis, so a Redis outage must not mark every container unhealthy (docs/operations.md).
# No curl in slim images: Python's urllib exits non-zero on any error or non-2xx answer.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]

# SIGTERM (docker stop) drains in-flight requests for up to SHUTDOWN_TIMEOUT_S (20 s by
# default): give the container a longer stop timeout (compose: stop_grace_period).
CMD ["python", "-m", "server", "serve", "--host", "0.0.0.0", "--port", "8080", "--workers", "2"]
