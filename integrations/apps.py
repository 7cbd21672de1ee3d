from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        from integrations.api import schema  # noqa: F401  registers the API-key scheme with drf-spectacular
