"""The data dictionary: the one description of every column the registry imports and exports.

Two parts:

* ``SHEETS``: the import/export layout, one sheet (or CSV file) per entity, columns named as the
  model fields, with the natural key that makes a re-import change nothing. Labels, types and
  coded values come from ``registry.models`` and ``registry.choices``, so the dictionary cannot
  drift from the database.
* ``ANALYSIS_TABLES``: the de-identified analysis data set: ``ANALYSIS_VARIABLES`` (one row per
  patient) and one table per event type, keyed by a pseudonym instead of the study ID; no dates,
  ages and intervals in days from diagnosis.

Coded values keep their registry code (``AF4``) in CSV, XLSX and SAS transport files; Stata
and SPSS get a numeric code (the 1-based position of the value in ``registry.choices``, so
new values are only ever appended) with the registry label as value label.
``docs/data-dictionary.md`` and the downloadable template workbook are generated from here.
"""

import functools
import inspect
import os
from dataclasses import dataclass

if __name__ == "__main__":  # pragma: no cover - `python -m registry.transfer.data_dictionary`
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.config.settings")
    django.setup()

from django.db import models as dj_models  # noqa: E402
from django.utils import translation  # noqa: E402
from django.utils.translation import gettext_noop  # noqa: E402

from .. import choices as choice_module  # noqa: E402
from ..models import FirstLineResponse, FollowUp, Patient, Relapse, SalvageLine, Transplant  # noqa: E402
from .analysis_variables import (  # noqa: E402, F401 (re-exported: the dictionary is the one entry point)
    ANALYSIS_TABLES,
    ANALYSIS_TABLES_BY_NAME,
    ANALYSIS_VARIABLES,
    ANALYSIS_VARIABLES_BY_NAME,
    BOOLEAN,
    CODE,
    DATE,
    DECIMAL,
    INTEGER,
    TEXT,
    AnalysisTable,
    Variable,
)


def _choice_classes():
    """The code list classes by their codes (values only: labels are translated lazily)."""
    return {
        tuple(cls.values): cls
        for _, cls in inspect.getmembers(choice_module, inspect.isclass)
        if issubclass(cls, dj_models.TextChoices) and cls is not dj_models.TextChoices and cls.__name__ != "Role"
    }


_CHOICES_BY_VALUES = _choice_classes()


@dataclass(frozen=True)
class Column:
    """One column of an import sheet, read from the model field of the same name."""

    name: str
    label: str
    kind: str
    required: bool
    description: str = ""
    codes: type | None = None  # a TextChoices class of registry.choices
    max_length: int | None = None
    example: str = ""

    @property
    def code_list(self):
        return self.codes.__name__ if self.codes else ""


@dataclass(frozen=True)
class Sheet:
    name: str
    model: type
    label: str
    key: tuple
    columns: tuple
    description: str = ""

    def column(self, name):
        return next(c for c in self.columns if c.name == name)

    @property
    def column_names(self):
        return [c.name for c in self.columns]


def _kind(model_field):
    if model_field.choices:
        return CODE
    if isinstance(model_field, dj_models.DateField):
        return DATE
    if isinstance(model_field, dj_models.DecimalField):
        return DECIMAL
    if isinstance(model_field, dj_models.BooleanField):
        return BOOLEAN
    if isinstance(model_field, dj_models.IntegerField):
        return INTEGER
    return TEXT


def _column(model, name, *, example="", description=None, required=None):
    f = model._meta.get_field(name)
    codes = _CHOICES_BY_VALUES.get(tuple(value for value, _label in f.choices)) if f.choices else None
    if required is None:
        required = not (f.null or f.blank or isinstance(f, dj_models.BooleanField))
    with translation.override("en"):  # the dictionary is English whatever the language of the first request
        label = str(f.verbose_name)
        description = str(description if description is not None else f.help_text or "")
    return Column(
        name=name,
        label=label[:1].upper() + label[1:],
        kind=_kind(f),
        required=required,
        description=description,
        codes=codes,
        max_length=f.max_length if _kind(f) == TEXT else None,
        example=example,
    )


STUDY_ID = Column(
    "study_id",
    "Study ID",
    TEXT,
    True,
    "The patient's study ID, e.g. MLL96-0012 (on event sheets: a patient registered before or in the same import).",
    max_length=20,
    example="MLL98-0012",  # the examples are one course of an MLL98 infant, dates in course order
)

SHEETS = (
    Sheet(
        "patients",
        Patient,
        gettext_noop("Patients"),  # English in exported files; translated where shown
        key=("study_id",),
        description="One row per registered infant: presenting features at diagnosis.",
        columns=(
            STUDY_ID,
            Column(
                "center",
                "Center code",
                TEXT,
                True,
                "Code of the treating center, e.g. TKY01.",
                max_length=12,
                example="TKY01",
            ),
            Column("trial", "Trial", CODE, True, "MLL96 or MLL98.", max_length=10, example="MLL98"),
            _column(Patient, "registration_date", example="1999-03-02"),
            _column(Patient, "sex", example="F"),
            _column(Patient, "date_of_birth", example="1998-11-20"),
            _column(Patient, "diagnosis_date", example="1999-02-28"),
            _column(Patient, "wbc", example="312.5"),
            _column(Patient, "cns_status", example="CNS1"),
            _column(Patient, "immunophenotype", example="PRO_B"),
            _column(Patient, "prednisone_response", example="GOOD"),
            _column(Patient, "mll_partner", example="AF4"),
            _column(Patient, "mll_detection_method", example="FISH"),
        ),
    ),
    Sheet(
        "first_line_responses",
        FirstLineResponse,
        gettext_noop("First-line responses"),  # English in exported files; translated where shown
        key=("study_id",),
        description="At most one row per patient: CR1 with its date, or induction failure.",
        columns=(
            STUDY_ID,
            _column(FirstLineResponse, "outcome", example="CR"),
            _column(FirstLineResponse, "assessment_date", example="1999-04-05"),
        ),
    ),
    Sheet(
        "relapses",
        Relapse,
        gettext_noop("Relapses"),  # English in exported files; translated where shown
        key=("study_id", "relapse_date"),
        description="One row per relapse after a complete remission.",
        columns=(
            STUDY_ID,
            _column(Relapse, "relapse_date", example="1999-10-01"),
            _column(Relapse, "site", example="BM"),
        ),
    ),
    Sheet(
        "salvage_lines",
        SalvageLine,
        gettext_noop("Salvage lines"),  # English in exported files; translated where shown
        key=("study_id", "start_date"),
        description="One row per second-line (salvage) regimen after relapse or induction failure.",
        columns=(
            STUDY_ID,
            _column(SalvageLine, "regimen", example="FLAG"),
            _column(SalvageLine, "agents", example="fludarabine, cytarabine, G-CSF"),
            _column(SalvageLine, "start_date", example="1999-10-08"),
            _column(SalvageLine, "response", example="CR"),
            _column(
                SalvageLine, "response_date", description="Required for a complete remission.", example="1999-11-10"
            ),
            Column(
                "regimen_code",
                "Regimen code",
                CODE,
                False,
                "Code of the regimen in the registry's regimen list (/vocabularies/regimens/); empty: coded from "
                "the regimen text if the list knows it, else later by a data manager.",
                max_length=30,
                example="FLAG",
            ),
        ),
    ),
    Sheet(
        "transplants",
        Transplant,
        gettext_noop("Transplants (HSCT)"),  # English in exported files; translated where shown
        key=("study_id", "transplant_date"),
        description="One row per hematopoietic stem cell transplant.",
        columns=(
            STUDY_ID,
            _column(Transplant, "transplant_date", example="2000-01-15"),
            _column(Transplant, "transplant_type", example="ALLO"),
            _column(Transplant, "donor", example="UCB"),
            _column(Transplant, "stem_cell_source", example="CB"),
            _column(Transplant, "conditioning", example="BU"),
            _column(Transplant, "conditioning_intensity", example="MAC"),
            _column(Transplant, "disease_status", example="CR2+"),
        ),
    ),
    Sheet(
        "follow_ups",
        FollowUp,
        gettext_noop("Follow-up contacts"),  # English in exported files; translated where shown
        key=("study_id", "contact_date"),
        description="One row per follow-up contact; a death is recorded once, with its date and cause.",
        columns=(
            STUDY_ID,
            _column(FollowUp, "contact_date", example="2004-06-30"),
            _column(FollowUp, "vital_status", example="ALIVE"),
            _column(FollowUp, "death_date", description="Required if vital status is DEAD; empty otherwise."),
            _column(FollowUp, "cause_of_death", description="Required if vital status is DEAD; empty otherwise."),
            _column(FollowUp, "lost_to_follow_up", description="1/0 (or TRUE/FALSE); empty means 0.", example="0"),
            _column(FollowUp, "second_malignancy_date"),
        ),
    ),
)
SHEETS_BY_NAME = {s.name: s for s in SHEETS}
SHEET_OF_MODEL = {s.model: s for s in SHEETS}

# Trials are rows of the database (a data migration), not TextChoices: their codes are fixed.
TRIAL_CODES = ("MLL96", "MLL98")


def code_lists():
    """Every TextChoices class used by an import column or an analysis variable, by name."""
    found = {}
    for sheet in SHEETS:
        for column in sheet.columns:
            if column.codes:
                found[column.codes.__name__] = column.codes
    for table in ANALYSIS_TABLES:
        for variable in table.variables:
            if variable.codes:
                found[variable.codes.__name__] = variable.codes
    return dict(sorted(found.items()))


# Regimen codes are rows of the database (registry.vocabularies), kept by administrators in the admin.
REGIMEN_CODE_LIST = "RegimenCode"


def allowed_codes(column):
    if column.name == "regimen_code":
        from ..vocabularies.models import regimen_codes

        return regimen_codes()
    return _fixed_codes(column)


@functools.cache
def _fixed_codes(column):
    if column.name == "trial":
        return tuple(TRIAL_CODES)
    return tuple(code for code, _ in column.codes.choices) if column.codes else ()


# --- Rendering ------------------------------------------------------------------------------


def _md_escape(text):
    return str(text).replace("|", "\\|")


def markdown():
    """docs/data-dictionary.md (a test keeps the file equal to this)."""
    out = [
        "# Data dictionary",
        "",
        "Generated from `registry/transfer/data_dictionary.py`",
        "(`.venv/bin/python -m registry.transfer.data_dictionary > docs/data-dictionary.md`);",
        "labels and coded values come from `registry/models.py` and `registry/choices.py`.",
        "The same layout is downloadable as a template workbook",
        "(Exports page, `/exports/dictionary.xlsx`, or `GET /api/v1/exports/dictionary/xlsx/`).",
        "",
        "## Import and identified export",
        "",
        "One CSV file per entity, one ZIP archive of such CSV files (as the identified export), or one XLSX",
        "workbook with one sheet per entity, named as below. The first row holds the column names",
        "(case-insensitive, in any order); every other row is one record. Dates are",
        "`YYYY-MM-DD` (or real date cells in XLSX); decimals use a point; coded columns take the codes listed",
        "under *Code lists* (case-insensitive). Unknown columns are refused, so nothing is silently dropped.",
        'CSV files are UTF-8 (a byte-order mark is fine) or Shift_JIS as Japanese Excel saves "CSV" (CP932),',
        "worked out from the file or chosen on upload. Formulas are refused; a text cell exported with",
        "a leading apostrophe to neutralise `=`, `+`, `-` or `@` is read back without it. In the template",
        "workbook every coded column offers its codes as a drop-down list.",
        "",
        "Re-importing the same rows changes nothing: each row is matched to a stored record by its natural",
        "key; identical records are left alone, differing ones are updated (with the import's reason for",
        "change), new ones are created. Event rows name their patient by study ID.",
        "",
    ]
    for sheet in SHEETS:
        key = " + ".join(f"`{k}`" for k in sheet.key)
        out += [f"### `{sheet.name}`: {sheet.label}", "", f"{sheet.description} Natural key: {key}.", ""]
        out += ["| column | label | type | required | codes | description |", "| --- | --- | --- | --- | --- | --- |"]
        for c in sheet.columns:
            kind = c.kind + (f" (max {c.max_length})" if c.max_length else "")
            codes = (
                f"[{c.code_list}](#{c.code_list.lower()})"
                if c.codes
                else (", ".join(TRIAL_CODES) if c.name == "trial" else "")
            )
            if c.name == "regimen_code":
                codes = f"[{REGIMEN_CODE_LIST}](vocabularies.md)"
            out.append(
                f"| `{c.name}` | {_md_escape(c.label)} | {kind} | {'yes' if c.required else 'no'} | {codes} | "
                f"{_md_escape(c.description)} |"
            )
        out.append("")
    out += [
        "## De-identified analysis data set",
        "",
        "One table per file (ZIP of CSV, SAS, Stata or SPSS files) or sheet (XLSX): `patients`, one row per",
        "patient, and one table per event type, every record, keyed by `pseudonym`. No dates: ages and",
        "intervals are whole days from the date of diagnosis; the study ID is replaced by a pseudonym that stays",
        "the same across exports (HMAC-SHA256 of the study ID with the registry's key). CSV, XLSX and SAS",
        "transport (XPT v8) carry the registry codes; Stata (.dta) and SPSS (.sav) carry numeric codes (the",
        "value's position in its code list) with value labels; every format carries the variable labels (XPT",
        "has no value labels: use this dictionary). How to rebuild the stored analyses from these tables:",
        "docs/analysis-data-set.md.",
        "",
    ]
    for table in ANALYSIS_TABLES:
        out += [f"### `{table.name}`: {table.label}", "", table.description, ""]
        out += ["| variable | label | type | codes | description |", "| --- | --- | --- | --- | --- |"]
        for v in table.variables:
            codes = (
                f"[{v.codes.__name__}](#{v.codes.__name__.lower()})"
                if v.codes
                else (", ".join(f"{i}={code}" for i, (code, _) in enumerate(v.values, 1)) if v.values else "")
            )
            out.append(f"| `{v.name}` | {_md_escape(v.label)} | {v.kind} | {codes} | {_md_escape(v.description)} |")
        out.append("")
    out += ["## Code lists", "", "Number = the numeric code in Stata and SPSS files.", ""]
    for name, cls in code_lists().items():
        out += [f"### {name}", "", "| number | code | label |", "| ---: | --- | --- |"]
        for i, (code, label) in enumerate(cls.choices, start=1):
            out.append(f"| {i} | `{code}` | {_md_escape(label)} |")
        out.append("")
    return "\n".join(out)


TEMPLATE_ROWS = 1_048_576  # the drop-down lists cover every row a spreadsheet has


def template_workbook():
    """An XLSX workbook: one sheet per entity (header, example row) plus README and code lists.

    The example rows are one consistent course (they pass the import's own dry run once their
    center exists), and every coded column offers its codes as a drop-down list (a data
    validation reading the ``codes`` sheet), so a code cannot be mistyped in Excel.
    """
    from io import BytesIO

    from django.utils.translation import gettext as _
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    readme = wb.active
    readme.title = "README"
    readme.append([_("MLL96/MLL98 registry import template. Fill one sheet per entity; delete the example rows.")])
    readme.append(
        [_("Columns and codes: docs/data-dictionary.md. Sheets named README and codes are ignored on import.")]
    )
    readme.append([_("Coded columns offer their codes as a drop-down list (the codes sheet lists them with labels).")])
    codes = wb.create_sheet("codes")
    codes.append(["code list", "code", "label"])
    ranges = {}
    for name, cls in code_lists().items():
        first = codes.max_row + 1
        for code, label in cls.choices:
            codes.append([name, code, str(label)])
        ranges[name] = f"codes!$B${first}:$B${codes.max_row}"
    from ..vocabularies.models import Regimen  # the active regimens, as the entry pages offer them

    first = codes.max_row + 1
    for code, name in Regimen.objects.active().order_by("code").values_list("code", "name"):
        codes.append([REGIMEN_CODE_LIST, code, name])
    if codes.max_row >= first:
        ranges[REGIMEN_CODE_LIST] = f"codes!$B${first}:$B${codes.max_row}"
    for index, sheet in enumerate(SHEETS, start=1):
        ws = wb.create_sheet(sheet.name, index)  # entity sheets before the codes
        ws.append(sheet.column_names)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        ws.append([c.example for c in sheet.columns])
        for c, cell in zip(sheet.columns, ws[1], strict=True):
            ws.column_dimensions[cell.column_letter].width = max(14, len(c.name) + 2)
            code_list = REGIMEN_CODE_LIST if c.name == "regimen_code" else c.code_list
            codes_of_column = ranges.get(code_list) or (f'"{",".join(TRIAL_CODES)}"' if c.name == "trial" else None)
            if codes_of_column:
                ws.add_data_validation(_drop_down(codes_of_column, cell.column_letter))
    buffer = BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _drop_down(codes, column):
    """A list validation offering ``codes`` (a range or a quoted list) in every data row of ``column`` (a letter)."""
    from django.utils.translation import gettext as _
    from openpyxl.worksheet.datavalidation import DataValidation

    validation = DataValidation(
        type="list",
        formula1=codes,
        allow_blank=True,
        showDropDown=False,  # (sic) False shows the arrow
        showErrorMessage=True,
        errorTitle=_("Not a code of this column"),
        error=_("Choose a code from the list; the codes sheet lists them with their labels."),
    )
    validation.add(f"{column}2:{column}{TEMPLATE_ROWS}")
    return validation


IGNORED_SHEETS = {"readme", "codes"}


if __name__ == "__main__":  # pragma: no cover
    print(markdown())
