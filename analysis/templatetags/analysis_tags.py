"""Template helpers for the report pages."""

from django import template

from .. import views

register = template.Library()


@register.filter
def can_view_reports(user):
    return views.can_view_reports(user)
