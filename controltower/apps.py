from django.apps import AppConfig


class ControlTowerConfig(AppConfig):
    name = "controltower"
    verbose_name = "Control Tower"

    def ready(self) -> None:
        from controltower import checks  # noqa: F401  registers the system checks
