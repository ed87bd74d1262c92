# syntax=docker/dockerfile:1
# Build: docker build -t ardoise .   Run: docker run -p 8000:8000 -e ARDOISE_SECRET_KEY=... ardoise
# Multi-stage: dependencies are built in a throw-away stage; the runtime image has no compiler.
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
RUN groupadd --system --gid 10001 ardoise && useradd --system --uid 10001 --gid 10001 --home-dir /app ardoise \
    && mkdir -p /data /app && chown 10001:10001 /data
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY --chown=10001:10001 migrations ./migrations
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8000 2525
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]
CMD ["sh", "-c", "ardoise migrate && exec ardoise serve --host 0.0.0.0 --port 8000"]
