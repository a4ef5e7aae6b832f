import logging.config
import os

from celery import Celery
from celery.signals import setup_logging
from django.conf import settings  # lazy: read only when beat's schedule is built, after Django set up

from llmaas import metrics  # noqa: F401  (connects the task-outcome counters to Celery's signals)

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
