"""Pages for bulk import (upload, dry-run report, commit, progress) and for the standard exports.

The work is done by ``registry.transfer.imports`` and ``registry.transfer.exports``, the same code the API calls.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from .. import access
from ..transfer import encodings, exports, imports, uploads
from ..transfer.data_dictionary import SHEETS


class UploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("File"),
        help_text=gettext_lazy(
            "A .csv file (one entity), an .xlsx workbook (one sheet per entity) or a .zip of CSV files."
        ),
    )
    entity = forms.ChoiceField(
        required=False,
        label=gettext_lazy("Entity"),
        choices=[("", gettext_lazy("Work it out (from the sheet, file name or columns)"))]
        + [(s.name, gettext_lazy(s.label)) for s in SHEETS],  # labels marked by gettext_noop in the dictionary
        help_text=gettext_lazy("For a CSV file only."),
    )
    encoding = forms.ChoiceField(
        required=False,
        label=gettext_lazy("Text encoding"),
        choices=encodings.IMPORT_CHOICES,
        initial=encodings.AUTO,
        help_text=gettext_lazy(
            'For CSV files (also inside a ZIP): Excel\'s "CSV UTF-8", or "CSV" from Japanese Excel (Shift_JIS).'
        ),
    )
    reason = forms.CharField(
        required=False,
        max_length=255,
        label=gettext_lazy("Reason for change"),
        help_text=gettext_lazy(
            "Needed only if rows change records already in the registry; stored in the audit trail."
        ),
        widget=forms.TextInput(attrs={"size": 60}),
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


@login_required
@require_http_methods(["GET", "POST"])
def import_start(request):
    access.require_role(request.user)
    can_import = access.can_import(request.user)
    form = UploadForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        if not can_import:
            raise access.NotYourRole(access.IMPORT_REFUSED)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                uploads.check_file_size(upload.size)  # before reading the file into memory
                job = imports.create_job(
                    user=request.user,
                    file_name=upload.name,
                    content=upload.read(),
                    entity=form.cleaned_data["entity"],
                    reason=form.cleaned_data["reason"],
                    encoding=form.cleaned_data["encoding"] or encodings.AUTO,
                )
                imports.start(job, action="check")
                return redirect("transfer:import-job", pk=job.pk)
            except imports.ImportRejected as error:
                form.add_error("file", error.message)
                status = error.status
        else:
            status = 400
    jobs = imports.jobs_for(request.user)[:20]
    return render(
        request, "registry/import.html", {"form": form, "jobs": jobs, "can_import": can_import}, status=status
    )


def _job(request, pk):
    return get_object_or_404(imports.jobs_for(request.user), pk=pk)


@login_required
@require_http_methods(["GET"])
def import_job(request, pk):
    job = _job(request, pk)
    report = job.report or {}
    return render(
        request,
        "registry/import_job.html",
        {
            "job": job,
            "report": report,
            "sheets": (report.get("sheets") or {}).items(),
            "read_as": [
                (sheet, encodings.LABELS.get(code, code)) for sheet, code in (report.get("encodings") or {}).items()
            ],
            "running": job.status in (job.Status.QUEUED, job.Status.RUNNING),
            "can_commit": job.status == job.Status.CHECKED and access.can_import(request.user),
        },
    )


@login_required
@require_http_methods(["GET"])
def import_status(request, pk):
    job = _job(request, pk)
    return JsonResponse(
        {
            "status": job.status,
            "rows_done": job.rows_done,
            "rows_total": job.rows_total,
            "finished": job.status not in (job.Status.QUEUED, job.Status.RUNNING),
        }
    )


@login_required
@require_POST
def import_commit(request, pk):
    job = _job(request, pk)
    access.require_import(request.user)
    try:
        job = imports.start(job, action="commit")
    except imports.ImportRejected as error:
        messages.error(request, error.message)
        return redirect("transfer:import-job", pk=job.pk)
    if job.status == job.Status.COMMITTED:
        messages.success(request, _("Imported %(file)s.") % {"file": job.file_name})
    elif job.status == job.Status.REJECTED:
        messages.error(request, _("Nothing was written: the file no longer passes the checks (see the report)."))
    return redirect("transfer:import-job", pk=job.pk)


@login_required
@require_http_methods(["GET"])
def export_index(request):
    access.require_role(request.user)
    available = [
        (kind, [(fmt, exports.is_csv(kind, fmt)) for fmt in formats])
        for kind, formats in exports.available(request.user)
    ]
    return render(request, "registry/export.html", {"available": available})


@login_required
@require_http_methods(["GET"])
def export_download(request, kind, fmt):
    """One export; ``?encoding=cp932`` writes its CSV files in Shift_JIS for Japanese Excel."""
    access.require_role(request.user)
    try:
        content, content_type, file_name = exports.export(
            user=request.user,
            kind=kind,
            fmt=fmt,
            source="page",
            encoding=request.GET.get("encoding") or encodings.UTF8,
        )
    except exports.UnknownExport:
        raise Http404(_("No such export.")) from None
    except exports.CsvEncodingError as error:
        messages.error(request, error.message)
        return redirect("transfer:export")
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{file_name}"'
    return response
