from django.apps import AppConfig


class OauthConfig(AppConfig):
    name = "oauth"
    verbose_name = "OAuth2 / OpenID Connect"

    def ready(self) -> None:
        from oauth import receivers  # noqa: F401 - connects the signal receivers
