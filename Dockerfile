# One image for every prsaga process: `prsaga worker` by default, `prsaga webhook` for the webhook
# server. All configuration comes from PRSAGA_* environment variables (prsaga/runtime/config.py).

# --- build: the project's wheel, so that the runtime image holds no source tree or build backend.
FROM python:3.11-slim AS build
WORKDIR /src
COPY . .
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# --- runtime
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PRSAGA_STATE_DIR=/var/lib/prsaga

RUN groupadd --system --gid 10001 prsaga \
    && useradd --system --uid 10001 --gid prsaga --create-home --home-dir /home/prsaga \
        --shell /usr/sbin/nologin prsaga \
    && mkdir -p "$PRSAGA_STATE_DIR" \
    && chown prsaga:prsaga "$PRSAGA_STATE_DIR"

# The runtime dependencies (never the test extras), read from pyproject.toml alone, get their own
# layer: a code change reuses it and reinstalls only the small prsaga wheel below.
COPY pyproject.toml /tmp/pyproject.toml
RUN python -c 'import tomllib; print("\n".join(tomllib.load(open("/tmp/pyproject.toml", "rb"))["project"]["dependencies"]))' > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt \
    && rm /tmp/pyproject.toml /tmp/requirements.txt

# Installed with its dependency resolution on (all already satisfied), then checked, so that the
# layer above can never leave the image with a missing or conflicting dependency.
COPY --from=build /wheels /tmp/wheels
RUN pip install --no-cache-dir /tmp/wheels/*.whl \
    && pip check \
    && rm -rf /tmp/wheels

# After the chown above: Docker seeds a new named volume from this directory, owner included.
VOLUME ["/var/lib/prsaga"]
WORKDIR /home/prsaga
USER 10001:10001
# The webhook server (PRSAGA_WEBHOOK_PORT) and Prometheus metrics (PRSAGA_METRICS_ADDRESS).
EXPOSE 8000 9464

# No HEALTHCHECK here: the worker and the webhook server answer on different endpoints, so each
# compose service declares its own (docker-compose.yml).
CMD ["prsaga", "worker"]
