# The Docteur Memo API image: `docker build -t docmemo .`
# It needs DATABASE_URL and DOCMEMO_SECRET_KEY (see README, "Deployment").

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: install the pinned dependencies and the package into a virtualenv ---
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/docmemo
WORKDIR /src
# Dependencies first, so that a code change does not reinstall them.
COPY deploy/docker/requirements.lock ./
RUN /opt/docmemo/bin/pip install --no-deps --requirement requirements.lock
COPY pyproject.toml README.md ./
COPY src ./src
COPY migrations ./migrations
RUN /opt/docmemo/bin/pip install --no-deps . \
    && /opt/docmemo/bin/python -m compileall -q /opt/docmemo/lib

# --- runtime: the virtualenv on a clean slim image, as a user without privileges ---
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/docmemo/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DOCMEMO_ENVIRONMENT=production \
    DOCMEMO_HOST=0.0.0.0 \
    DOCMEMO_PORT=2024 \
    DOCMEMO_WORKERS=2
RUN groupadd --system --gid 10001 docmemo \
    && useradd --system --uid 10001 --gid docmemo --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin docmemo
COPY --from=build /opt/docmemo /opt/docmemo
WORKDIR /app
USER 10001:10001
EXPOSE 2024
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["docmemo", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["docmemo"]
CMD ["serve"]
