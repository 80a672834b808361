# emac-bot image: the GitHub Action (default target) and the webhook service (`--target service`).
#
# The base is pinned to an exact patch tag. Pin it by digest as well
# (python:3.11.7-slim-bookworm@sha256:...) where the registry can be reached to read the digest.
ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm

# --- promtool: Debian's `prometheus` package, unpacked rather than installed ---------------------
FROM ${PYTHON_IMAGE} AS promtool
WORKDIR /tmp/prometheus
# Installing the package would pull the server, its service files and many libraries; only the
# promtool binary is needed to check and unit-test the emitted rule files.
RUN apt-get update \
    && apt-get download prometheus \
    && dpkg -x prometheus_*.deb root \
    && install -m 0755 root/usr/bin/promtool /usr/local/bin/promtool \
    && rm -rf /var/lib/apt/lists/* /tmp/prometheus/*

# --- the package, installed into a virtual environment that the runtime copies -----------------
FROM ${PYTHON_IMAGE} AS builder
WORKDIR /src
COPY pyproject.toml README.md ./
# bot/templates and bot/fixtures link to these top-level folders: the wheel takes their files.
COPY templates ./templates
COPY fixtures ./fixtures
COPY bot ./bot
RUN python -m venv /opt/emac \
    && /opt/emac/bin/pip install --no-cache-dir .

# --- what both targets share -------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="emac-bot" \
      org.opencontainers.image.description="Emergence-as-Code pull-request bot: bounded journey SLOs reviewed in pull requests" \
      org.opencontainers.image.licenses="MIT"
# git is what GitPython drives. Versions come with the pinned Debian release: bookworm's security
# updates replace older package versions, so an exact `git=` pin would soon fail to install.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*
COPY --from=promtool /usr/local/bin/promtool /usr/local/bin/promtool
COPY --from=builder /opt/emac /opt/emac
ENV PATH=/opt/emac/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/emac emac

# --- the webhook service and its workers: `docker build --target service` ----------------------
FROM runtime AS service
USER 10001:10001
WORKDIR /home/emac
ENTRYPOINT ["emac"]
CMD ["serve"]

# --- the GitHub Action: the last stage, so `runs.image: Dockerfile` builds it ------------------
FROM runtime AS action
# GitHub runs Docker actions as the image's default user and documents that it must be root:
# the runner mounts the workspace and the output files owned by its own account, which another
# user could not write. git refuses a repository owned by someone else unless it is marked safe,
# and the runner always mounts the checkout at this path.
RUN git config --system --add safe.directory /github/workspace
ENTRYPOINT ["emac"]
CMD ["action"]
