from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from controltower.models import AuditEntry, PersonalToken, Plant, User


@admin.register(Plant)
class PlantAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "time_zone"]
    search_fields = ["code", "name"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    fieldsets = [*BaseUserAdmin.fieldsets, ("Plants", {"fields": ["plants"]})]
    filter_horizontal = [*BaseUserAdmin.filter_horizontal, "plants"]
    list_display = ["username", "email", "is_staff", "is_active"]


@admin.register(PersonalToken)
class PersonalTokenAdmin(admin.ModelAdmin):
    """An admin sees everyone's tokens and can revoke one (set revoked at); people create their own."""

    list_display = ["user", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["user", "name", "prefix", "key_hash", "created_at", "last_used_at"]
    list_filter = ["user"]

    def has_add_permission(self, request):
        return False  # created on the person's API tokens page, which shows the token once


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["at", "actor_label", "action", "object_type", "object_id"]
    list_filter = ["action", "object_type"]
    search_fields = ["object_id", "actor_label", "reason"]

    def has_change_permission(self, request, obj=None):
        return False  # append-only

    def has_delete_permission(self, request, obj=None):
        return False
