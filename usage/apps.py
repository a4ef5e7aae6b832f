from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "usage"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from usage import receivers  # noqa: F401 - connects to keys' signals (Django: apps are loaded only now)
