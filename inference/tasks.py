from celery import shared_task

from inference import health
from inference.models import ModelDeployment
from inference.pulls import deployment_pull


@shared_task
def backends_probe() -> dict[str, bool]:
    """Beat: probe every backend; failing ones leave routing, recovered ones come back."""
    return health.backends_probe()


@shared_task(ignore_result=True)
def deployment_pull_task(deployment_id: int) -> None:
    """Admin action: pull a deployment's model onto its Ollama backend (progress on the deployment)."""
    deployment = ModelDeployment.objects.select_related("backend").filter(pk=deployment_id).first()
    if deployment is not None:
        deployment_pull(deployment=deployment)
