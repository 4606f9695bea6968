"""schemathesis hooks of the API contract test (loaded by tests/api/schemathesis.toml).

- A cursor is an opaque token the API signs and hands out in the next and previous links; a
  client cannot make one up, and one it made up is refused with 400 by design (docs/api.md,
  tests/api/test_pagination.py). So generated requests carry no cursor of their own making.
- A study ID is unique: schemathesis reuses the values it has seen in responses, so a new patient
  would nearly always be a duplicate (400) and the stateful chains that start with a registration
  would never start. A well-formed study ID in a new patient is replaced by a fresh one.
"""

import itertools
import re

import schemathesis

STUDY_ID = re.compile(r"[A-Z0-9]{2,8}-\d{3,6}")
_fresh = itertools.count(1)


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.query and "cursor" in case.query:
        case.query = {name: value for name, value in case.query.items() if name != "cursor"}
    if (
        case.operation.label == "POST /api/v1/patients/"
        and isinstance(case.body, dict)
        and isinstance(case.body.get("study_id"), str)
        and STUDY_ID.fullmatch(case.body["study_id"])
    ):
        case.body = {**case.body, "study_id": f"FUZZ-{next(_fresh):06d}"}
