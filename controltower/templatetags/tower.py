"""How statuses, times and ages are drawn, the same on every page."""

import json
import zoneinfo
from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html

from integrations.choices import STATUS_PRESENTATION

register = template.Library()


@register.simple_tag
def status_badge(value: str):
    """A status as an icon and a word; colour only where it needs a look (ISA-101)."""
    tone, icon = STATUS_PRESENTATION.get(value, ("magenta", "?"))
    label = value.replace("_", " ")
    return format_html('<span class="badge badge-{}" data-status="{}"><span aria-hidden="true">{}</span> {}</span>',
                       tone, value, icon, label)


@register.filter
def plant_time(value, plant=None):
    """A moment in the plant's local time, with its zone (UTC when there is no plant)."""
    if not value:
        return "—"
    tz = zoneinfo.ZoneInfo(plant.time_zone) if plant else zoneinfo.ZoneInfo("UTC")
    return timezone.localtime(value, tz).strftime("%Y-%m-%d %H:%M:%S %Z")


@register.filter
def iso_plant_time(value: str, plant=None):
    """An ISO 8601 timestamp kept in a JSON history, shown like every other time."""
    try:
        return plant_time(datetime.fromisoformat(value), plant)
    except (TypeError, ValueError):
        return value


@register.filter
def age(value):
    """A relative age for glance views: '12 s', '7 min', '3 h', '2 d'."""
    if not value:
        return "—"
    seconds = int((timezone.now() - value).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{max(seconds, 0)} s"


@register.filter
def as_json(value) -> str:
    """A payload as indented JSON (autoescaped by the template)."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)
