from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "sandbox"
    verbose_name = "Sandbox (simulated plant systems)"
    default_auto_field = "django.db.models.BigAutoField"
