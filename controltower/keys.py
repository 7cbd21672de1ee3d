"""Secrets that authenticate API calls: a system's API key and a person's token share one shape.

`<kind>_<prefix>_<secret>`: the prefix finds the row, the SHA-256 of the whole key is compared
in constant time, and the plaintext is shown once, at creation. Keys carry 256 bits of
randomness, so a fast hash is safe and keeps each API call cheap.
"""

import hashlib
import hmac
import secrets
from typing import ClassVar

from django.db import models
from django.utils import timezone


def key_hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


class HashedKeyQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class HashedKey(models.Model):
    KIND: ClassVar[str]  # the first part of the key: which table to look in
    OWNER: ClassVar[str]  # the field naming who the key authenticates

    prefix = models.CharField(max_length=16, unique=True, help_text="public part, to find the key")
    key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = HashedKeyQuerySet.as_manager()

    class Meta:
        abstract = True

    @property
    def shown(self) -> str:
        """How the key is shown after creation: its public part only."""
        return f"{self.KIND}_{self.prefix}_…"

    @classmethod
    def create_with_secret(cls, **fields) -> tuple["HashedKey", str]:
        """Create a key; return it and the plaintext, which is not stored."""
        prefix = secrets.token_hex(6)
        raw = f"{cls.KIND}_{prefix}_{secrets.token_urlsafe(32)}"
        return cls.objects.create(prefix=prefix, key_hash=key_hash(raw), **fields), raw

    @classmethod
    def is_kind(cls, raw: str) -> bool:
        return raw.startswith(f"{cls.KIND}_")

    @classmethod
    def authenticate(cls, raw: str) -> "HashedKey | None":
        """The active key matching `raw` (its owner loaded), or None."""
        parts = raw.split("_", 2)
        if len(parts) != 3 or parts[0] != cls.KIND:
            return None
        key = cls.objects.active().select_related(cls.OWNER).filter(prefix=parts[1]).first()
        if key is None or not hmac.compare_digest(key.key_hash, key_hash(raw)):
            return None
        return key

    def mark_used(self) -> None:
        """Record the use, at most once a minute: a key in steady use must not write on every call."""
        if self.last_used_at is None or (timezone.now() - self.last_used_at).total_seconds() > 60:
            type(self).objects.filter(pk=self.pk).update(last_used_at=timezone.now())
