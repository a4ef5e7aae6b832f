# syntax=docker/dockerfile:1.7
# The LiteLLM proxy with our hooks (inference/proxy/), DB-less, behind the route gate
# (inference.proxy.asgi). Its own virtualenv: LiteLLM pins fastapi, pydantic, openai, httpx.
#   docker buildx bake proxy
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS deps
WORKDIR /src
COPY pyproject.toml .
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml','rb'))['project']['optional-dependencies']['proxy']))" \
      > requirements.txt \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --upgrade pip 'setuptools>=78.1.1' \
 && /opt/venv/bin/pip install --no-cache-dir -r requirements.txt

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 llmaas \
 && useradd --system --uid 10001 --gid llmaas --home-dir /app --no-create-home llmaas
COPY --from=deps /opt/venv /opt/venv
WORKDIR /app
# Only the plain-Python hook package and the cold-start config: the proxy never imports Django.
COPY --chown=root:root inference/__init__.py inference/__init__.py
COPY --chown=root:root inference/proxy inference/proxy
COPY --chown=root:root litellm/config.yaml litellm/config.yaml
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CONFIG_FILE_PATH=/app/litellm/config.yaml \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    DISABLE_ADMIN_UI=True \
    NO_DOCS=True \
    NO_REDOC=True \
    JSON_LOGS=True
USER 10001:10001
EXPOSE 4000
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:4000/health/readiness', timeout=2).status != 200)"
# JSON lines: LiteLLM's own (JSON_LOGS), uvicorn's (log config), one access line per request from the gate.
CMD ["uvicorn", "inference.proxy.asgi:app", "--host", "0.0.0.0", "--port", "4000", "--workers", "2", \
     "--no-server-header", "--no-access-log", "--log-config", "/app/inference/proxy/uvicorn_logging.json"]
