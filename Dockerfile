# syntax=docker/dockerfile:1
#
# The image-review GitHub App (web: `image-review serve`, worker: `image-review worker`).
#
#   docker build -t image-review:0.1.0 .
#   docker run --env-file app.env -p 8000:8000 image-review:0.1.0
#
# Both stages use the same Python base, so the virtualenv built in the first runs unchanged in
# the second. The base is pinned to an exact release; for fully reproducible builds also pin
# its digest (python:3.11.9-slim-bookworm@sha256:...), looked up with
# `docker buildx imagetools inspect python:3.11.9-slim-bookworm`, and let a bot bump both.

# ---- builder: compilers and build tools live here only --------------------------------------
FROM python:3.11.9-slim-bookworm AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# For dependencies without a wheel for this platform (cffi, cryptography, rpds-py on some CPUs).
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential libffi-dev \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# Dependencies first, from the lock only: this layer is reused until the lock changes.
COPY requirements.lock ./
RUN pip install --no-deps --requirement requirements.lock

# Then the project itself, as a wheel, without touching the locked dependencies.
COPY pyproject.toml README.md ./
COPY app ./app
RUN pip wheel --no-deps --wheel-dir /wheels . \
    && pip install --no-deps /wheels/*.whl \
    && pip check

# ---- final: the virtualenv on a clean base, no build tools, not root ------------------------
FROM python:3.11.9-slim-bookworm

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    IMAGE_REVIEW_DATA_DIR=/data \
    PORT=8000

RUN groupadd --system --gid 10001 image-review \
    && useradd --system --uid 10001 --gid image-review --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin image-review \
    && mkdir -p /data \
    && chown image-review:image-review /data

COPY --from=builder /opt/venv /opt/venv

USER 10001:10001
WORKDIR /data
# The embedded queue, review memory and metrics files live here; mount a volume to keep the
# embedded queue across container restarts (with REDIS_URL only metrics files are written).
VOLUME ["/data"]
EXPOSE 8000

# No curl in the image: Python asks /healthz (the web server's, or the URL in
# IMAGE_REVIEW_HEALTH_URL, e.g. a worker's --metrics-port endpoint).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; url = os.environ.get('IMAGE_REVIEW_HEALTH_URL') or 'http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'); sys.exit(0 if urllib.request.urlopen(url, timeout=4).status == 200 else 1)"]

CMD ["image-review", "serve", "--host", "0.0.0.0"]
