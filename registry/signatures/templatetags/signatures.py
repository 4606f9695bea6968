"""``{% load signatures %}{% signatures "casebook" patient %}``: the signatures of one signed thing
(printed name, UTC time, meaning; INVALIDATED with reason and time), and a Sign button for those
who may sign it. Kinds: "casebook" (a patient), "data_cut" and "report" (a data cut: the report at it).
"""

from django import template
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from ..models import Kind
from ..selectors import signatures_of
from ..services import may_sign

register = template.Library()

BUTTONS = {
    Kind.CASEBOOK: _("Sign casebook"),
    Kind.DATA_CUT: _("Sign data cut"),
    Kind.REPORT: _("Sign report"),
}


@register.inclusion_tag("signatures/_signatures.html", takes_context=True)
def signatures(context, kind, obj):
    """The signatures panel of ``obj``; nothing at all for no object (a report on the live data)."""
    if obj is None or kind not in Kind.values:
        return {"show": False}
    request = context.get("request")
    user = getattr(request, "user", None)
    can_sign = user is not None and may_sign(user, kind, obj)
    return {
        "show": True,
        "kind": Kind(kind),
        "shown": signatures_of(kind, obj),
        "can_sign": can_sign,
        "sign_url": reverse("signatures:sign", args=[kind, obj.pk]) if can_sign else "",
        "button": BUTTONS[Kind(kind)],
    }
