from celery import shared_task

from inference import health


@shared_task
def backends_probe() -> dict[str, bool]:
    """Beat: probe every backend; failing ones leave routing, recovered ones come back."""
    return health.backends_probe()
