"""The vocabulary pages: the regimen list (every role) and the uncoded regimens (data managers, admins).

Writes go through ``registry.vocabularies.services``; who may do what is ``registry.access``.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from .. import access
from ..models import SalvageLine
from . import services
from .forms import CodeTextForm
from .models import Regimen, normalise

SOURCE = "page"


@login_required
@require_GET
def regimen_list(request):
    """The regimen codes with their usual agents and how many salvage lines carry each."""
    access.require_role(request.user)
    counts = dict(
        SalvageLine.objects.exclude(regimen_code="").values_list("regimen_code").annotate(n=Count("pk")).order_by()
    )
    regimens = list(Regimen.objects.prefetch_related("agents"))
    for regimen in regimens:
        regimen.n_lines = counts.get(regimen.code, 0)
    return render(
        request,
        "vocabularies/regimens.html",
        {
            "regimens": regimens,
            "n_uncoded": services.uncoded_lines().count(),
            "japanese": (translation.get_language() or "").startswith("ja"),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def uncoded(request):
    """Uncoded regimen texts grouped by text, each mapped to a code for all its lines at once."""
    access.require_code_regimens(request.user)
    failed, status = None, 200
    if request.method == "POST":
        form = CodeTextForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                n = services.code_regimen_text(
                    user=request.user, text=data["text"], regimen=data["regimen"], reason=data["reason"], source=SOURCE
                )
            except (ValidationError, PermissionDenied) as error:
                failed = error.messages if isinstance(error, ValidationError) else [str(error)]
            else:
                messages.success(
                    request,
                    _("%(n)s salvage line(s) with the regimen “%(text)s” coded as %(code)s.")
                    % {"n": n, "text": data["text"], "code": data["regimen"].code},
                )
                return redirect("vocabularies:uncoded")
        else:
            failed = [str(e) for errors in form.errors.values() for e in errors]
        status = 400
    groups = services.uncoded_texts()
    if failed:
        key = normalise(request.POST.get("text", ""))
        for group in groups:
            if group.key == key:
                group.errors = failed
                group.reason = request.POST.get("reason", "")
                group.suggested = request.POST.get("regimen") or group.suggested
    return render(
        request,
        "vocabularies/uncoded.html",
        {"groups": groups, "regimens": _choices(), "errors": failed or []},
        status=status,
    )


def _choices():
    """(code, label) of the active regimens: the code with the name in the page's language."""
    japanese = (translation.get_language() or "").startswith("ja")
    out = []
    for regimen in Regimen.objects.active():
        name = (regimen.name_ja if japanese else "") or regimen.name
        out.append(
            (regimen.code, regimen.code if normalise(name) == normalise(regimen.code) else f"{regimen.code} ({name})")
        )
    return out
