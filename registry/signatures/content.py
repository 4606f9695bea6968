"""What a signature signs, as canonical JSON, and its SHA-256 (21 CFR 11.70: the link between a
signature and its record).

* casebook: every case-report field (``Model.entry_fields``) of the patient and of each of its
  event records, with their ids and versions, read from the database;
* data cut: its id, name, scope (trial code, or null for the whole study) and fingerprint (the
  SHA-256 of its frozen copy of the data);
* report: the outcome report at a data cut, i.e. the newest successful run of each analysis at
  that cut on the whole study (what ``analysis.runs.latest_runs(cut=...)`` returns): a sorted
  list of (analysis name, run id, fingerprint, code version, SHA-256 of the results JSON).

Canonical JSON: keys sorted, no spaces, UTF-8, dates as ISO 8601, decimals as their exact text.
The content is always read from the database, never from objects in memory, so the hash
recomputed later (``services.status``) sees whatever is stored, however it got there.

The runs are read through the cut's ``runs`` relation: ``registry`` never imports ``analysis``.
"""

import hashlib
import json
from datetime import date, datetime
from decimal import Decimal

from ..cuts.models import DataCut
from ..models import FirstLineResponse, FollowUp, Patient, Relapse, SalvageLine, Transplant
from .models import Kind

CASEBOOK_RECORDS = (FirstLineResponse, Relapse, SalvageLine, Transplant, FollowUp)
SUCCEEDED = "succeeded"  # analysis.models.AnalysisRun.Status.SUCCEEDED
STUDY_WIDE = {}  # the run parameters of the whole study's report (no trial or center filter)


def _jsonable(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} in signed content")


def canonical_json(content):
    """``content`` as canonical JSON text (the same bytes for the same values, on every database)."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_jsonable)


def sha256(content):
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()


def _entry_columns(model):
    return [model._meta.get_field(name).attname for name in model.entry_fields]


def casebook(patient_id):
    """The patient's case-report fields and those of every event record, with ids and versions."""
    return casebooks([patient_id])[patient_id]


def casebooks(patient_ids, chunk=5000):
    """{patient id: casebook content} for many patients: one query per table and 5,000 patients
    (the ODM export)."""
    ids = list(patient_ids)
    found, records = {}, {pk: [] for pk in ids}
    for begin in range(0, len(ids), chunk):
        part = ids[begin : begin + chunk]
        rows = Patient.objects.filter(pk__in=part).order_by()
        found.update((row["pk"], row) for row in rows.values("pk", "version", *_entry_columns(Patient)))
        for model in CASEBOOK_RECORDS:
            rows = model._base_manager.filter(patient_id__in=part).order_by("pk")
            for row in rows.values("patient_id", "pk", "version", *_entry_columns(model)):
                records[row.pop("patient_id")].append({"record": model._meta.model_name, **row})
    return {pk: {"kind": Kind.CASEBOOK.value, "patient": found.get(pk), "records": records[pk]} for pk in ids}


def data_cut(cut_id):
    """The data cut's id, name, scope and fingerprint."""
    cut = DataCut.objects.filter(pk=cut_id).values("pk", "name", "trial__code", "fingerprint").first()
    if cut is not None:
        cut["scope"] = cut.pop("trial__code")
    return {"kind": Kind.DATA_CUT.value, "cut": cut}


def report_run_ids(cut):
    """{analysis name: id of its newest successful study-wide run at ``cut``}."""
    newest = {}
    rows = cut.runs.filter(status=SUCCEEDED, parameters=STUDY_WIDE).order_by("name", "-finished_at", "-pk")
    for name, pk in rows.values_list("name", "pk"):
        newest.setdefault(name, pk)
    return newest


def report_runs(cut):
    """The newest successful study-wide run of each analysis at ``cut``: {name: run}, by name."""
    runs = cut.runs.filter(pk__in=report_run_ids(cut).values()).only("name", "fingerprint", "code_version", "results")
    return {run.name: run for run in sorted(runs, key=lambda run: run.name)}


def report(cut_id):
    """The outcome report at the data cut: (analysis, run id, fingerprint, code version, results SHA-256), sorted."""
    cut = DataCut.objects.filter(pk=cut_id).only("pk").first()
    runs = report_runs(cut).values() if cut is not None else []
    items = sorted([run.name, run.pk, run.fingerprint, run.code_version, sha256(run.results)] for run in runs)
    return {"kind": Kind.REPORT.value, "cut": cut_id, "runs": items}


CONTENT = {Kind.CASEBOOK: casebook, Kind.DATA_CUT: data_cut, Kind.REPORT: report}


def signed_content(kind, object_id):
    """What a signature of ``kind`` on the object ``object_id`` signs, as stored now."""
    return CONTENT[Kind(kind)](object_id)


def content_hash(kind, object_id):
    """SHA-256 (hex) of the canonical JSON of :func:`signed_content`."""
    return sha256(signed_content(kind, object_id))
