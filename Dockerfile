# syntax=docker/dockerfile:1
# One image for every fleet process: `fleet migrate`, `fleet ingest`, `fleet dispatcher`, `fleet worker`, `fleet api`, `fleet sim`, ...
#   docker build -t fleet:0.1.0 .
#   docker run --rm fleet:0.1.0 api --host 0.0.0.0
# The base tag is pinned; bump both stages together (and pin the digest in your registry mirror if you can).

# --- builder: build the project's wheel and install it with its pinned dependencies into a venv ---------------
FROM python:3.11.13-slim-bookworm AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
RUN python -m venv /opt/fleet

# The locked dependency tree first (its layer is cached while only the code changes), then the wheel's sources
# (.dockerignore is an allow-list as well).
COPY requirements.lock ./
RUN /opt/fleet/bin/python -m pip install --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY fleet ./fleet
COPY ingest ./ingest
COPY dispatcher ./dispatcher
COPY worker ./worker
COPY api ./api
COPY vehicle_sim ./vehicle_sim
COPY cli ./cli

# Every dependency, transitive ones included, comes from requirements.lock with its hash, so two builds of one
# commit get the same packages. The wheel is installed, not the source tree; pip and setuptools leave the venv
# afterwards: nothing installs at runtime.
RUN /opt/fleet/bin/python -m pip wheel --no-deps --wheel-dir /wheels . \
    && /opt/fleet/bin/python -m pip install --no-deps /wheels/fleet-*.whl \
    && /opt/fleet/bin/python -m pip check \
    && /opt/fleet/bin/python -m pip uninstall --yes pip setuptools

# --- runtime: the venv on a clean slim base, no compilers, no pip caches ----------------------------------------
# The base's openssl (a dependency of Debian's ca-certificates) makes docker-compose's self-signed broker certificate
# (service broker-certs); keep it if you change the base.
FROM python:3.11.13-slim-bookworm

LABEL org.opencontainers.image.title="fleet" \
      org.opencontainers.image.description="Telematics backend for bus fleets: MQTT ingest, REST API, simulator" \
      org.opencontainers.image.licenses="Apache-2.0"

# A numeric, unprivileged user: Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
RUN groupadd --gid 10001 fleet \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin fleet \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/fleet

COPY --from=builder /opt/fleet /opt/fleet

# The root filesystem may be read-only (Kubernetes): no bytecode writes, unbuffered logs to stdout, the data
# directory of the embedded defaults (`fleet up`, SQLite) on a path a volume can replace.
ENV PATH=/opt/fleet/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FLEET_DATA_DIR=/var/lib/fleet

WORKDIR /var/lib/fleet
USER 10001:10001

# 8000: API (FLEET_API_PORT); 9102: ingest health and metrics (FLEET_INGEST_HTTP_PORT).
EXPOSE 8000 9102

# No HEALTHCHECK: Kubernetes probes /healthz and /readyz; docker-compose defines its own checks per service.
ENTRYPOINT ["fleet"]
CMD ["--help"]
