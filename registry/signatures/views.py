"""The signing page: what is signed, the 21 CFR 11.50 manifestation (printed name, date and time,
meaning), and the form asking for the password (and the second factor where needed).

The object is read among those the user may see (404 otherwise); ``services`` decides who may
sign (403) and writes the signature.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from .. import access
from . import selectors, services
from .forms import SignForm
from .models import Kind

SOURCE = "page"


@login_required
@require_http_methods(["GET", "POST"])
def sign(request, kind, pk):
    if kind not in Kind.values:
        raise access.OutsideYourCenters()
    obj = selectors.object_for(request.user, kind, pk)
    blocked = ""
    try:
        services.require_may_sign(request.user, kind, obj)
    except ValidationError as error:
        blocked = " ".join(error.messages)
    second_factor = services.second_factor_needed(request.user, request.session)
    form = SignForm(request.POST or None, second_factor=second_factor)
    if request.method == "POST" and not blocked and form.is_valid():
        try:
            signature = services.sign(
                user=request.user,
                kind=kind,
                obj=obj,
                meaning=form.cleaned_data["meaning"],
                password=form.cleaned_data["password"],
                otp_token=form.cleaned_data.get("otp_token"),
                session=request.session,
                source=SOURCE,
            )
        except ValidationError as error:
            _show(form, error)
        else:
            messages.success(
                request,
                _("Signed %(what)s as %(name)s on %(when)s UTC (%(meaning)s).")
                % {
                    "what": services.describe(kind, obj),
                    "name": signature.printed_name,
                    "when": f"{signature.signed_at:%Y-%m-%d %H:%M:%S}",
                    "meaning": signature.get_meaning_display(),
                },
            )
            return redirect(selectors.object_url(kind, obj))
    context = {
        "kind": Kind(kind),
        "obj": obj,
        "what": services.describe(kind, obj),
        "form": form,
        "blocked": blocked,
        "printed_name": services.printed_name(request.user),
        "now": timezone.now(),
        "back": selectors.object_url(kind, obj),
        "shown": selectors.signatures_of(kind, obj),
    }
    status = 400 if request.method == "POST" or blocked else 200
    return render(request, "signatures/sign.html", context, status=status)


def _show(form, error):
    """The service's refusal on the form field it concerns (the password, the code), else above the form."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)
