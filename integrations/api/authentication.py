"""How systems and people prove who they are to the API."""

import logging
from dataclasses import dataclass

from rest_framework import authentication, exceptions, permissions

from controltower.models import PersonalToken
from integrations.models import ApiKey, System

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SystemPrincipal:
    """The caller when an external system authenticates with its API key."""

    system: System
    is_authenticated: bool = True
    sees_all_plants: bool = False


def _refused(request, detail: str) -> exceptions.AuthenticationFailed:
    logger.warning("API authentication failed from %s", request.META.get("REMOTE_ADDR"))
    return exceptions.AuthenticationFailed(detail)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer ct_…` (a system's API key) or `Bearer ctp_…` (a person's token).

    A person's token acts as that person: their roles, their plants. Failures are logged and
    counted (/metrics), not stored.
    """

    keyword = "Bearer"

    def authenticate(self, request):
        scheme, _, credentials = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != self.keyword.lower():  # RFC 9110: the scheme is case-insensitive
            return None
        credentials = credentials.strip()
        if PersonalToken.is_kind(credentials):
            token = PersonalToken.authenticate(credentials)
            if token is None or not token.user.is_active:
                raise _refused(request, "Unknown or revoked personal token.")
            token.mark_used()
            return token.user, token
        key = ApiKey.authenticate(credentials)
        if key is None:
            raise _refused(request, "Unknown or revoked API key.")
        key.mark_used()
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
