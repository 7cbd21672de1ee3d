from django.contrib import admin

from exceptions_queue.models import ExceptionCase


@admin.register(ExceptionCase)
class ExceptionCaseAdmin(admin.ModelAdmin):
    list_display = ["updated_at", "category", "severity", "role", "plant", "title", "occurrences", "status"]
    list_filter = ["category", "status", "role", "plant"]
    search_fields = ["title", "cause_key"]
