"""Plants, people and the audit trail: what every other app is scoped by or writes to."""

import zoneinfo

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from controltower.keys import HashedKey
from controltower.roles import Role


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone such as Europe/Berlin")


class Plant(models.Model):
    """A manufacturing site. People and routing rules are scoped by plant."""

    code = models.CharField(max_length=16, unique=True)
    name = models.CharField(max_length=100)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


class User(AbstractUser):
    """A person. Roles are groups named after `Role`; `plants` limits what they see."""

    plants = models.ManyToManyField(Plant, blank=True, related_name="people")

    def has_role(self, role: Role) -> bool:
        return self.groups.filter(name=role).exists()

    @property
    def sees_all_plants(self) -> bool:
        """Integration admins and superusers see every plant; everyone else only theirs."""
        return self.is_superuser or self.has_role(Role.INTEGRATION_ADMIN)

    def visible_plants(self):
        return Plant.objects.all() if self.sees_all_plants else self.plants.all()


class PersonalToken(HashedKey):
    """A person's token for the API from scripts and tools: the person's own roles and plants, no more."""

    KIND, OWNER = "ctp", "user"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="what it is for, e.g. 'nightly reconciliation script'")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.user.username} {self.name} {self.shown}"

    @classmethod
    def issue(cls, user: User, name: str) -> tuple["PersonalToken", str]:
        """Create a token for `user`, audited; return it and the plaintext, which is not stored."""
        token, raw = cls.create_with_secret(user=user, name=name)
        audit_record(actor=user, action="personal_token.issue", obj=token, after={"name": name})
        return token, raw

    def revoke(self, *, actor) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])
            audit_record(actor=actor, action="personal_token.revoke", obj=self, after={"name": self.name})


class AuditEntry(models.Model):
    """Append-only record of a human or admin action: who, when, what, before and after."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_label = models.CharField(max_length=150, help_text="who acted, kept if the user is deleted")
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["object_type", "object_id"])]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.object_type} {self.object_id}"

    def save(self, *args, **kwargs):
        if self.pk:
            raise ValueError("audit entries are append-only")
        super().save(*args, **kwargs)


def audit_record(*, actor, action: str, obj, before=None, after=None, reason: str = "") -> AuditEntry:
    """Write one audit entry for an action on `obj`."""
    label = getattr(actor, "username", None) or str(actor or "system")
    return AuditEntry.objects.create(
        actor=actor if isinstance(actor, User) else None,
        actor_label=label,
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        before=before,
        after=after,
        reason=reason,
    )
