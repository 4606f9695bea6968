"""Template helpers for the registry pages: who the user is, and what they may do."""

from django import template

from .. import access
from ..choices import Role

register = template.Library()


@register.simple_tag
def role_label(user):
    """'Study coordinator, TKY01' for the page header; '' for users without a role."""
    role = access.role_of(user)
    if role is None:
        return ""
    scope = access.center_scope(user)
    if scope is None:
        where = "all centers"
    else:
        where = user.membership.center.code
    return f"{Role(role).label}, {where}"


@register.filter
def can_audit(user):
    return access.can_audit(user)
