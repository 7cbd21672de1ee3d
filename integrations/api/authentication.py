"""How systems and people prove who they are to the API."""

import logging
from dataclasses import dataclass

from django.utils import timezone
from rest_framework import authentication, exceptions, permissions

from integrations.models import ApiKey, System

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SystemPrincipal:
    """The caller when an external system authenticates with its API key."""

    system: System
    is_authenticated: bool = True
    sees_all_plants: bool = False


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer ct_…`: a system's key. Failures are logged and counted (/metrics), not stored."""

    keyword = "Bearer"

    def authenticate(self, request):
        scheme, _, credentials = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != self.keyword.lower():  # RFC 9110: the scheme is case-insensitive
            return None
        key = ApiKey.authenticate(credentials.strip())
        if key is None:
            logger.warning("inbound authentication failed from %s", request.META.get("REMOTE_ADDR"))
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.")
        if key.last_used_at is None or (timezone.now() - key.last_used_at).total_seconds() > 60:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())  # at most once a minute
        return SystemPrincipal(key.system), key

    def authenticate_header(self, request):
        return self.keyword


class IsSystem(permissions.BasePermission):
    message = "Only a system's API key may call this."

    def has_permission(self, request, view):
        return isinstance(request.user, SystemPrincipal)


class IsPerson(permissions.BasePermission):
    message = "Sign in as a person to call this."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and not isinstance(request.user, SystemPrincipal))
