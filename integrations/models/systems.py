"""External systems and the API keys they authenticate with."""

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from controltower.keys import HashedKey
from integrations.choices import CircuitState, SystemKind


class System(models.Model):
    """An external system (ERP, WMS, MES, QMS…) that sends to or receives from the tower."""

    code = models.CharField(max_length=32, unique=True, help_text="e.g. ERP-S4, WMS-EAST, MES-P1000")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=8, choices=SystemKind.choices)
    adapter = models.CharField(max_length=32, help_text="connector that speaks this system's format")
    base_url = models.URLField(blank=True)
    credentials_ref = models.CharField(max_length=200, blank=True,
                                       help_text="name of the secret holding outbound credentials")
    plants = models.ManyToManyField("controltower.Plant", blank=True, related_name="systems")
    is_active = models.BooleanField(default=True)
    timeout_s = models.PositiveSmallIntegerField(default=10)
    retry_base_s = models.FloatField(default=2.0, help_text="first retry delay; doubles each attempt")
    retry_cap_s = models.FloatField(default=600.0, help_text="longest delay between attempts")
    max_attempts = models.PositiveSmallIntegerField(default=10)
    rate_limit_per_s = models.FloatField(null=True, blank=True, help_text="empty: no limit")
    circuit_threshold = models.PositiveSmallIntegerField(default=5, help_text="consecutive transient failures "
                                                         "that open the circuit")
    circuit_cooldown_s = models.PositiveIntegerField(default=30, help_text="seconds open before a probe")
    circuit_state = models.CharField(max_length=16, choices=CircuitState.choices, default=CircuitState.CLOSED)
    circuit_failures = models.PositiveIntegerField(default=0)
    circuit_opened_at = models.DateTimeField(null=True, blank=True)
    paused = models.BooleanField(default=False, help_text="manual pause: deliveries are held")
    paused_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code

    def save(self, *args, **kwargs):
        if not self.paused:
            self.paused_reason = ""  # a reason belongs to one pause; the next one gives its own
        super().save(*args, **kwargs)

    def clean(self):
        if self.paused and not self.paused_reason.strip():
            raise ValidationError({"paused_reason": "say why deliveries are paused: every held delivery shows it"})


class ApiKey(HashedKey):
    """A hashed key that authenticates one System on inbound calls. Shown once, at creation."""

    KIND, OWNER = "ct", "system"

    system = models.ForeignKey(System, on_delete=models.CASCADE, related_name="api_keys")

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.system.code} {self.shown}"

    @classmethod
    def issue(cls, system: System, *, revoke_others: bool = False) -> tuple["ApiKey", str]:
        """Create a key for `system`; return it and the plaintext, which is not stored."""
        if revoke_others:
            cls.objects.active().filter(system=system).update(revoked_at=timezone.now())
        return cls.create_with_secret(system=system)
