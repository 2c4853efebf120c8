# The dashboard's one image: docker-compose.yml runs it as web (Daphne), worker
# (Celery with beat) and watcher (the Argo watcher). Everything is installed and
# built here, when the image is built; a container only migrates and starts.

# The front end: CodeMirror and the page modules, bundled by esbuild into static/dist/.
FROM node:20-bookworm-slim AS frontend
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY frontend/ ./
RUN node build.mjs

FROM python:3.11-slim-bookworm
# What the local engine runs jobs with (the Makefile's SYSTEM_PACKAGES, which
# tests/test_packaging.py keeps in step): git for repository links and
# git-checkout@v1, bubblewrap for the sandbox, podman and its helpers for job
# images, with fuse-overlayfs for podman's storage inside a container
# (docs/operations.md says what the worker's container needs for them).
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        ca-certificates git bubblewrap podman runc slirp4netns uidmap busybox-static bash-static \
        fuse-overlayfs \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.lock ./
RUN python -m venv /app/.venv \
    && /app/.venv/bin/pip install --no-cache-dir --disable-pip-version-check -r requirements.lock

COPY . .
COPY --from=frontend /src/static/dist/ static/dist/

ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    GRADIENT_DATA_DIR=/data \
    STATIC_ROOT=/app/staticfiles
# The key is only for this step; containers get theirs from the environment.
RUN SECRET_KEY=collectstatic-only GRADIENT_DATA_DIR=/tmp/build-data \
    python manage.py collectstatic --noinput -v0 \
    && rm -rf /tmp/build-data

VOLUME /data
EXPOSE 8000
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "gradient.asgi:application"]
