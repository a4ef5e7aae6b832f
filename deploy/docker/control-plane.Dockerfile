# syntax=docker/dockerfile:1.7
# The control plane: Django (web, internal webhook), Celery worker and beat, the usage shipper.
# One image, several commands (docker-compose.dev.yml, k8s/). Built from the repository root:
#   docker buildx bake control-plane
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS deps
WORKDIR /src
COPY pyproject.toml .
# The pins of pyproject.toml's [project] dependencies, exactly as bin/_setup.sh installs them.
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml','rb'))['project']['dependencies']))" \
      > requirements.txt \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --upgrade pip 'setuptools>=78.1.1' \
 && /opt/venv/bin/pip install --no-cache-dir -r requirements.txt

FROM ${PYTHON_IMAGE} AS static
COPY --from=deps /opt/venv /opt/venv
WORKDIR /app
COPY . .
# collectstatic needs no database and no secret; dev settings only for this build step.
RUN LLMAAS_ENV=dev DJANGO_STATIC_ROOT=/static /opt/venv/bin/python manage.py collectstatic --noinput -v 0

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 llmaas \
 && useradd --system --uid 10001 --gid llmaas --home-dir /app --no-create-home llmaas
COPY --from=deps /opt/venv /opt/venv
WORKDIR /app
COPY --chown=root:root . .
COPY --from=static --chown=root:root /static /app/static
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LLMAAS_ENV=production \
    DJANGO_STATIC_ROOT=/app/static \
    LLMAAS_STATE_DIR=/tmp/llmaas
USER 10001:10001
EXPOSE 8001
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8001/api/health', timeout=2).status != 200)"
CMD ["gunicorn", "llmaas.wsgi", "-b", "0.0.0.0:8001", "-w", "2", "-k", "gthread", "--threads", "4", \
     "--access-logfile", "-", "--logger-class", "llmaas.logging_json.GunicornLogger", "--graceful-timeout", "30"]
