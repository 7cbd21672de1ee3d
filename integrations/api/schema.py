"""How the API-key authentication appears in the OpenAPI schema (a bearer token)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "integrations.api.authentication.ApiKeyAuthentication"
    name = "systemApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "ct_<prefix>_<secret>",
                "description": "A system's API key, issued with `manage.py api_key_issue SYSTEM_CODE`."}
