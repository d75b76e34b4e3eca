# One image for every process; docker-compose.yml picks the module per service:
#   python -m gateway | services.dispatch | services.care_record | services.monitoring
# Base images by exact tag; bump them together with the Python requirements/ are locked for.
FROM python:3.11.14-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# The locked runtime dependencies, every file checked against its sha256, before any source: a
# source change reuses this layer, and nothing unlocked or unhashed gets in.
COPY requirements/runtime.lock ./requirements/
RUN pip install --require-hashes -r requirements/runtime.lock
COPY pyproject.toml ./
COPY eldercare ./eldercare
COPY gateway ./gateway
COPY services ./services
# The tools ship too: operators provision devices (python -m tools.provision) from the image.
COPY tools ./tools
# Not editable: the runtime stage carries only the venv, no source tree. --no-deps and no build
# isolation: everything it needs, setuptools included, is installed above from the lock.
RUN pip install --no-deps --no-build-isolation .

FROM python:3.11.14-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HTTP_HOST=0.0.0.0 \
    ELDERCARE_VAR_DIR=/app/var
# The default var dir sits next to the installed package, which the app user cannot write.
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin eldercare \
    && mkdir -p /app/var && chown eldercare /app/var
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER 10001
EXPOSE 8001 8002 8003 8004
CMD ["python", "-m", "services.dispatch"]
