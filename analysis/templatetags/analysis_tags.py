"""Template helpers for the report pages."""

from django import template

from registry import access

register = template.Library()


@register.filter
def can_view_reports(user):
    return access.can_view_reports(user)
