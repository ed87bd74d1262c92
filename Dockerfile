# syntax=docker/dockerfile:1
# Build: docker build -t ardoise .   Run: docker run -p 8000:8000 -e ARDOISE_SECRET_KEY=... -v ardoise:/data ardoise
# Multi-stage: dependencies are built in a throw-away stage; the runtime image has no compiler.
#
# Base image: pinned by tag (Python 3.11, Debian 12). To pin it by digest, which is what production should run,
# resolve the tag on a machine with Docker and put the digest after the tag in both FROM lines:
#   docker buildx imagetools inspect python:3.11-slim-bookworm --format '{{json .Manifest.Digest}}'
#   FROM python:3.11-slim-bookworm@sha256:<that digest> AS build
# and repeat it when Debian or Python publish security fixes (docs/deployment.md, "Updating the base images").
# The digest is not written here: it could not be resolved on the machine this file was written on (no
# Docker engine, no registry access), and a made-up digest would break every build.
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY pyproject.toml requirements.lock README.md ./
COPY app ./app
RUN /opt/venv/bin/pip install -c requirements.lock .

FROM python:3.11-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ARDOISE_ENV=prod \
    ARDOISE_DATABASE_URL=sqlite:////data/ardoise.db \
    ARDOISE_MEDIA_DIR=/data/media \
    ARDOISE_SMTP_HOST=0.0.0.0
# postgresql-client: pg_dump/pg_restore for `ardoise backup`/`restore` on PostgreSQL (Debian 12's is version 15,
# the server version of docker-compose.yml). SQLite backups need nothing: they are done in Python.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*
# /data and /data/media belong to the app user, so a named volume mounted there starts writable by uid 10001
# (Docker copies the image's ownership into a new volume).
RUN groupadd --system --gid 10001 ardoise && useradd --system --uid 10001 --gid 10001 --home-dir /app ardoise \
    && mkdir -p /data/media /data/backups /app && chown -R 10001:10001 /data
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY --chown=10001:10001 migrations ./migrations
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8000 2525
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]
CMD ["sh", "-c", "ardoise migrate && exec ardoise serve --host 0.0.0.0 --port 8000"]
