"""Loaded by pytest before Django (``-p llmaas.pytest_env``): isolates the unit tests from a
running dev stack: their own database, Redis key prefix and eager Celery."""

import os
import tempfile
import uuid

RUN_ID = uuid.uuid4().hex[:8]
os.environ.setdefault("LLMAAS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/llmaas_unit")
os.environ["LLMAAS_REDIS_PREFIX"] = f"llmaas-test-{RUN_ID}"
os.environ.setdefault("LLMAAS_CELERY_EAGER", "1")
os.environ.setdefault("DJANGO_STATIC_ROOT", tempfile.mkdtemp(prefix="llmaas-test-static-"))
