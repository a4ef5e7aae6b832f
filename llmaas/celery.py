import logging.config
import os
from contextvars import Token

from celery import Celery, Task
from celery.signals import before_task_publish, setup_logging, task_postrun, task_prerun
from django.conf import settings  # lazy: read only when beat's schedule is built, after Django set up

from inference.proxy.logs import valid_request_id
from llmaas import metrics  # noqa: F401  (connects the task-outcome counters to Celery's signals)
from llmaas.request_meta import RequestMeta, bind_request_id, current, unbind

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "llmaas.settings")

app = Celery("llmaas")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# Beat's schedule: (setting with the period in seconds, task).
PERIODIC = (
    ("SNAPSHOT_RECONCILE_SECONDS", "keys.tasks.snapshot_reconcile"),
    ("BUDGET_RECONCILE_SECONDS", "usage.tasks.budgets_reconcile"),
    ("RESERVATION_PURGE_SECONDS", "usage.tasks.reservations_expire"),
    ("LAST_USED_FLUSH_SECONDS", "keys.tasks.last_used_flush"),
    ("ROLLUP_SECONDS", "usage.tasks.aggregate_daily_usage"),
    ("BUDGET_CHECK_SECONDS", "usage.tasks.check_budgets"),
    ("PARTITION_MAINTENANCE_SECONDS", "usage.tasks.partitions_maintain"),
    ("RETENTION_SECONDS", "usage.tasks.retention_apply"),
    ("OAUTH_EXPIRE_SECONDS", "oauth.tasks.oauth_expire"),
    ("HEALTH_PROBE_SECONDS", "inference.tasks.backends_probe"),
    ("GPU_COST_SECONDS", "usage.tasks.gpu_cost_allocate"),
    ("LEDGER_POST_SECONDS", "billing.tasks.ledger_post_usage"),
    ("STRIPE_EXPORT_SECONDS", "billing.tasks.export_stripe_usage"),
    ("BUDGET_RECONCILE_SECONDS", "billing.tasks.wallets_reconcile"),
)


@app.on_after_finalize.connect
def _schedule(sender: Celery, **_: object) -> None:
    for setting, task in PERIODIC:
        sender.add_periodic_task(float(getattr(settings, setting)), sender.signature(task), name=task)


@setup_logging.connect
def _logging(**_: object) -> None:
    """The worker and beat log as Django does (JSON lines by default, settings.LOGGING), not Celery's way."""
    logging.config.dictConfig(settings.LOGGING)
    logging.captureWarnings(True)  # Python's warnings (a root worker's) as log lines too


# A task queued while a request runs carries the request's id in its message headers, and every
# line the task writes (Celery's own "succeeded" line included) carries it: one id from nginx to the
# mail a sign-up sends. Beat's tasks have none.
REQUEST_ID_HEADER = "llmaas_request_id"


@before_task_publish.connect
def _carry_request_id(headers: dict[str, object] | None = None, **_: object) -> None:
    request_id = current().request_id
    if request_id and headers is not None:
        headers[REQUEST_ID_HEADER] = request_id


_bound: dict[str, Token[RequestMeta | None]] = {}  # task id → the token to give back after it ran


@task_prerun.connect
def _bind_request_id(task_id: str = "", task: Task | None = None, **_: object) -> None:
    value = getattr(task.request, REQUEST_ID_HEADER, None) if task is not None else None
    request_id = valid_request_id(value) if isinstance(value, str) else None
    if request_id:
        _bound[task_id] = bind_request_id(request_id)


@task_postrun.connect
def _unbind_request_id(task_id: str = "", **_: object) -> None:
    token = _bound.pop(task_id, None)
    if token is not None:
        unbind(token)
