# The node image: the same one runs in the local Compose cluster and on the EC2 fleet.
FROM python:3.13-slim

# uv installs exactly what uv.lock pins, and nothing of the dev, harness, infra or load groups.
RUN pip install --no-cache-dir "uv==0.13.*"

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv

WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-default-groups --no-install-project

COPY node/ ./node/

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin casty
USER casty

ENV PATH="/app/.venv/bin:$PATH" \
    NODE_INDEX=0 \
    SEED_IPS=127.0.0.1 \
    HTTP_PORT=8000 \
    CASTY_PORT=25520

EXPOSE 8000 25520

# No curl in a slim image: the standard library asks /health. Readiness, not liveness: a node
# that sees no majority reports unhealthy, which is what the balancer should act on.
HEALTHCHECK --interval=5s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"HTTP_PORT\", \"8000\")}/health', timeout=2).status == 200 else 1)"]

# SIGTERM starts the drain (DRAIN_SECONDS), then the node leaves the cluster in order.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "node"]
