"""Brings up the whole local stack (and the tests' isolated copies of it).

Used by ``bin/dev`` (``python -m stack up``) and by the end-to-end test fixtures: one code path
starts nginx, Django (gunicorn), the Celery worker and beat, LiteLLM and llama-server.
"""
