"""The data-cut pages, under /cuts/: the list (everyone with a role), creating and releasing (data managers).

Writes go through ``registry.cuts.services``; who may do what is ``registry.access``.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from .. import access
from . import services
from .forms import CutForm, ReleaseForm
from .models import DataCut

SOURCE = "page"


def _add_errors(form, error):
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error.messages)


@login_required
@require_http_methods(["GET", "POST"])
def cut_list(request):
    access.require_role(request.user)
    form = None
    if access.can_manage_cuts(request.user):
        form = CutForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                cut = services.create_cut(
                    user=request.user,
                    name=form.cleaned_data["name"],
                    trial=form.cleaned_data["trial"],
                    reason=form.cleaned_data["reason"],
                    source=SOURCE,
                )
            except ValidationError as error:
                _add_errors(form, error)
            else:
                messages.success(
                    request,
                    _("Data cut “%(name)s” created: %(n)s patients frozen.") % {"name": cut.name, "n": cut.n_patients},
                )
                return redirect("cuts:detail", pk=cut.pk)
    elif request.method == "POST":
        access.require_manage_cuts(request.user)
    cuts = DataCut.objects.select_related("trial", "created_by", "released_by").defer("snapshot")
    return render(request, "cuts/list.html", {"cuts": cuts, "form": form})


@login_required
@require_http_methods(["GET"])
def cut_detail(request, pk):
    access.require_role(request.user)
    cuts = DataCut.objects.select_related("trial", "created_by", "released_by").defer("snapshot")
    cut = get_object_or_404(cuts, pk=pk)
    return render(
        request,
        "cuts/detail.html",
        {
            "cut": cut,
            "release_form": ReleaseForm() if cut.frozen and access.can_manage_cuts(request.user) else None,
            "can_view_reports": access.can_view_reports(request.user),
            "history": cut.history.select_related("history_user").order_by("history_date"),
        },
    )


@login_required
@require_POST
def cut_release(request, pk):
    access.require_manage_cuts(request.user)
    cut = get_object_or_404(DataCut.objects.defer("snapshot"), pk=pk)
    form = ReleaseForm(request.POST)
    if form.is_valid():
        try:
            services.release_cut(user=request.user, cut=cut, reason=form.cleaned_data["reason"], source=SOURCE)
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, _("Data cut “%(name)s” released.") % {"name": cut.name})
            return redirect("cuts:detail", pk=cut.pk)
    return render(
        request,
        "cuts/detail.html",
        {"cut": cut, "release_form": form, "history": cut.history.order_by("history_date")},
        status=400,
    )
