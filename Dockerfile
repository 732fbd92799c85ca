# syntax=docker/dockerfile:1
# flextime-exporters: one image, every exporter; the subcommand chooses it:
#   docker run --net=host --pid=host -v /:/host:ro,rslave IMAGE node --path.rootfs=/host
#   docker run -e DATA_SOURCE_NAME=... IMAGE postgres
# Build: docker build -t flextime-exporters:0.1.0 .   (not built in this project's CI: no container
# engine there; tests/deploy/test_dockerfile.py lints this file and runs its install steps.)

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: the package and its dependencies in a virtual environment ------------------------
# with the inject extra (the kubernetes package), so the chart's webhook runs from the same image
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY exporters ./exporters
RUN python -m venv /opt/flextime \
    && /opt/flextime/bin/pip install --no-compile '.[inject]' \
    && /opt/flextime/bin/python -m compileall -q /opt/flextime/lib

# ---- final: the virtual environment only, as an unprivileged user -----------------------------
FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="flextime-exporters" \
      org.opencontainers.image.description="Prometheus exporters for hosts, PostgreSQL, Redis and job queues, drop-in for node_exporter, postgres_exporter and redis_exporter" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/flextime/flextime-exporters" \
      org.opencontainers.image.documentation="https://github.com/flextime/flextime-exporters/blob/main/README.md"
COPY --from=build /opt/flextime /opt/flextime
ENV PATH=/opt/flextime/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FLEXTIME_HEALTHCHECK_URL=http://127.0.0.1:9100/live
# nobody:nogroup; the root filesystem may be read-only (the exporters write nothing)
USER 65534:65534
EXPOSE 9100 9121 9187 9839
# /live answers while the process serves; set FLEXTIME_HEALTHCHECK_URL to the exporter's port
# (9187 postgres, 9121 redis, 9839 scheduler). Python, as the image has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['FLEXTIME_HEALTHCHECK_URL'], timeout=4)"]
ENTRYPOINT ["flextime-exporter"]
CMD ["node"]
