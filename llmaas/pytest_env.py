"""Loaded by pytest before Django (``-p llmaas.pytest_env``): isolates the unit tests from a
running dev stack: their own database, Redis key prefix and eager Celery."""

import os
import tempfile
import uuid

RUN_ID = uuid.uuid4().hex[:8]
os.environ.setdefault("LLMAAS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/llmaas_unit")
# pytest-django creates (and drops) this one; unique, so that two runs never collide.
os.environ.setdefault("LLMAAS_TEST_DATABASE_NAME", f"test_llmaas_{RUN_ID}")
os.environ["LLMAAS_REDIS_PREFIX"] = f"llmaas-test-{RUN_ID}"
os.environ.setdefault("LLMAAS_CELERY_EAGER", "1")
os.environ.setdefault("LLMAAS_TEST_FAST_PASSWORD_HASHER", "1")
os.environ.setdefault("LLMAAS_DB_CONN_MAX_AGE", "0")  # live-server threads must not hold the test db open
os.environ.setdefault("DJANGO_STATIC_ROOT", tempfile.mkdtemp(prefix="llmaas-test-static-"))
