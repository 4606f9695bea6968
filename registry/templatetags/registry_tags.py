"""Template helpers for the registry pages: who the user is, and what they may do.

The filters wrap ``registry.access`` (the menus show only what the role may do); no rule lives here.
"""

from django import template
from django.utils.translation import gettext as _

from .. import access
from ..choices import Role
from ..transfer import exports

register = template.Library()


@register.simple_tag
def role_label(user):
    """'Study coordinator, TKY01' for the page header; '' for users without a role."""
    role = access.role_of(user)
    if role is None:
        return ""
    scope = access.center_scope(user)
    if scope is None:
        where = _("all centers")
    else:
        where = user.membership.center.code
    return f"{Role(role).label}, {where}"


@register.filter
def in_language(text):
    """A text the system stored in English (a rule's message, an automatic reason for change) in
    the reader's language, where the catalogue knows it; any other text unchanged."""
    return _(text) if isinstance(text, str) and text else text


@register.filter
def can_audit(user):
    return access.can_audit(user)


@register.filter
def can_review_audit(user):
    return access.can_review_audit(user)


@register.filter
def can_code_regimens(user):
    return access.can_code_regimens(user)


@register.filter
def has_registry_role(user):
    """Whether the user has a role in the registry (without one, the menus are empty)."""
    return access.role_of(user) is not None


@register.filter
def can_import(user):
    return access.can_import(user)


@register.filter
def can_export_anything(user):
    """Whether any export (the data dictionary at least) is the user's to download."""
    return bool(exports.available(user))
