import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "llmaas.settings")

app = Celery("llmaas")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def _schedule(sender: Celery, **_: object) -> None:
    from django.conf import settings

    sender.add_periodic_task(
        float(settings.SNAPSHOT_RECONCILE_SECONDS),
        sender.signature("inference.tasks.snapshot_reconcile"),
        name="snapshot-reconcile",
    )
    sender.add_periodic_task(
        float(settings.BUDGET_RECONCILE_SECONDS),
        sender.signature("usage.tasks.budgets_reconcile"),
        name="budgets-reconcile",
    )
    sender.add_periodic_task(
        float(settings.RESERVATION_PURGE_SECONDS),
        sender.signature("usage.tasks.reservations_expire"),
        name="reservations-expire",
    )
    sender.add_periodic_task(
        float(settings.LAST_USED_FLUSH_SECONDS),
        sender.signature("keys.tasks.last_used_flush"),
        name="last-used-flush",
    )
