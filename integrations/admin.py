from django.contrib import admin

from controltower.models import audit_record
from integrations.models import (
    ApiKey,
    Attempt,
    Delivery,
    MaintenanceWindow,
    QuarantinedMessage,
    ReplayJob,
    RoutingRule,
    RoutingRuleVersion,
    ServiceLevel,
    System,
    Transaction,
    ValueMapping,
)
from integrations.services.configuration import routing_rule_save


class AuditedAdmin(admin.ModelAdmin):
    """Configuration changes made here are written to the audit trail."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit_record(actor=request.user, action="change" if change else "create", obj=obj,
                     after={field: str(form.cleaned_data.get(field)) for field in form.changed_data})

    def delete_model(self, request, obj):
        audit_record(actor=request.user, action="delete", obj=obj)
        super().delete_model(request, obj)


@admin.register(System)
class SystemAdmin(AuditedAdmin):
    list_display = ["code", "name", "kind", "adapter", "base_url", "circuit_state", "paused", "is_active"]
    list_filter = ["kind", "is_active", "circuit_state", "paused"]
    search_fields = ["code", "name"]
    filter_horizontal = ["plants"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["system", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["system", "prefix", "key_hash", "created_at", "last_used_at"]
    list_filter = ["system"]

    def has_add_permission(self, request):
        return False  # keys are issued with `manage.py api_key_issue`, which shows the key once


class RoutingRuleVersionInline(admin.TabularInline):
    """Every kept version of the rule, newest first: read-only history."""

    model = RoutingRuleVersion
    extra = 0
    can_delete = False
    fields = ["version", "created_at", "created_by", "snapshot"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(RoutingRule)
class RoutingRuleAdmin(AuditedAdmin):
    list_display = ["name", "event_type", "plant", "source", "latency_class", "priority", "is_active", "version"]
    list_filter = ["event_type", "plant", "is_active"]
    filter_horizontal = ["targets"]
    readonly_fields = ["version"]
    inlines = [RoutingRuleVersionInline]

    def save_model(self, request, obj, form, change):
        pass  # saved in save_related, once the targets are known, so the version snapshot names them

    def save_related(self, request, form, formsets, change):
        fields = {name: value for name, value in form.cleaned_data.items() if name != "targets"}
        routing_rule_save(rule=form.instance, fields=fields, targets=list(form.cleaned_data["targets"]),
                          actor=request.user)
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    can_delete = False
    fields = ["target", "status", "attempt_count", "next_attempt_at", "target_reference", "idempotency_key"]
    readonly_fields = fields


@admin.register(Transaction)
class TransactionAdmin(admin.ModelAdmin):
    list_display = ["received_at", "event_type", "business_key", "plant", "source", "status"]
    list_filter = ["status", "event_type", "plant"]
    search_fields = ["business_key", "correlation_id", "source_message_id"]
    readonly_fields = [f.name for f in Transaction._meta.fields]
    inlines = [DeliveryInline]


@admin.register(Attempt)
class AttemptAdmin(admin.ModelAdmin):
    list_display = ["delivery", "number", "started_at", "outcome", "http_status", "error_class"]
    list_filter = ["outcome"]


@admin.register(QuarantinedMessage)
class QuarantinedMessageAdmin(admin.ModelAdmin):
    list_display = ["received_at", "source", "http_status", "reason", "status"]
    list_filter = ["http_status", "status", "source"]
    readonly_fields = ["received_at", "source", "endpoint", "content_type", "body_size", "http_status",
                       "reason", "errors", "raw_body"]


@admin.register(ValueMapping)
class ValueMappingAdmin(AuditedAdmin):
    list_display = ["system", "domain", "external_value", "canonical_value"]
    list_filter = ["system", "domain"]
    search_fields = ["external_value", "canonical_value"]


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(AuditedAdmin):
    list_display = ["name", "system", "plant", "kind", "starts_at", "ends_at", "weekday", "start_time",
                    "duration_minutes", "is_active"]
    list_filter = ["kind", "is_active", "system", "plant"]


@admin.register(ServiceLevel)
class ServiceLevelAdmin(AuditedAdmin):
    list_display = ["event_type", "latency_class", "plant", "max_seconds"]


@admin.register(ReplayJob)
class ReplayJobAdmin(admin.ModelAdmin):
    list_display = ["created_at", "created_by", "status", "done", "total", "dry_run", "new_posting", "reason"]
    readonly_fields = [f.name for f in ReplayJob._meta.fields]
