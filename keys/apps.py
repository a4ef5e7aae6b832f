from django.apps import AppConfig


class KeysConfig(AppConfig):
    name = "keys"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from keys import receivers  # noqa: F401 - connects to accounts' signals (Django: apps are loaded only now)
