"""analysis.models: which stored runs each user reads (``AnalysisRun.objects.for_user``)."""

import pytest
from django.contrib.auth.models import AnonymousUser

from analysis.models import AnalysisRun
from tests.factories import CenterFactory, UserFactory

pytestmark = pytest.mark.django_db


def _run(**parameters):
    return AnalysisRun.objects.create(name="cohort_summary", trigger="command", parameters=parameters)


@pytest.fixture
def runs(center, other_center):
    """Runs by selection: the whole study, one trial, each center, one center and trial."""
    return {
        "study": _run(),
        "trial": _run(trial="MLL98"),
        "own": _run(center="TKY01"),
        "own_trial": _run(center="TKY01", trial="MLL96"),
        "other": _run(center="OSK02"),
    }


def readable(user, runs):
    ids = set(AnalysisRun.objects.for_user(user).values_list("pk", flat=True))
    return {key for key, run in runs.items() if run.pk in ids}


@pytest.mark.parametrize("persona", ["investigator", "data_manager", "admin_user"])
def test_study_wide_readers_read_every_run(request, persona, runs):
    assert readable(request.getfixturevalue(persona), runs) == set(runs)


def test_a_center_investigator_reads_only_runs_filtered_to_their_center(center_investigator, runs):
    assert readable(center_investigator, runs) == {"own", "own_trial"}


def test_a_center_investigator_of_another_center_reads_that_centers_runs(other_center, runs):
    other = UserFactory(username="osaka-investigator", role="INVESTIGATOR", center=other_center)
    assert readable(other, runs) == {"other"}


def test_a_run_naming_an_unknown_center_is_nobodys_but_the_study_readers(center_investigator, investigator):
    lost = {"lost": _run(center="NOPE1")}
    assert readable(center_investigator, lost) == set()
    assert readable(investigator, lost) == {"lost"}


def test_a_center_code_is_matched_exactly(center_investigator, runs):
    CenterFactory(code="TKY011")
    near = {"near": _run(center="TKY011"), "lower": _run(center="tky01")}
    assert readable(center_investigator, near) == set()


@pytest.mark.parametrize("persona", ["coordinator", "outsider"])
def test_no_outcome_reader_reads_no_run(request, persona, runs):
    assert readable(request.getfixturevalue(persona), runs) == set()


def test_anonymous_and_inactive_users_read_no_run(investigator, runs):
    assert readable(AnonymousUser(), runs) == set()
    assert readable(None, runs) == set()
    investigator.is_active = False
    investigator.save()
    assert readable(investigator, runs) == set()


def test_for_user_chains_with_other_filters(center_investigator, runs):
    runs["own"].status = AnalysisRun.Status.SUCCEEDED
    runs["own"].save()
    succeeded = AnalysisRun.objects.filter(status=AnalysisRun.Status.SUCCEEDED).for_user(center_investigator)
    assert list(succeeded) == [runs["own"]]


def test_results_and_figures_are_compressed_with_lz4_where_postgresql_has_it():
    """Storing a run's results is mostly their compression: lz4 where the server has it (migration 0004)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL compresses stored JSON; SQLite does not")
    with connection.cursor() as cursor:
        cursor.execute("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
        if not cursor.fetchone()[0]:
            pytest.skip("this PostgreSQL is built without lz4")
        cursor.execute(
            "SELECT attname, attcompression FROM pg_attribute WHERE attrelid = 'analysis_analysisrun'::regclass"
            " AND attname IN ('results', 'figures') ORDER BY attname"
        )
        assert cursor.fetchall() == [("figures", "l"), ("results", "l")]


def test_results_and_figures_are_kept_as_written():
    """DocumentField: the run's results come back equal, keys in the order written (PostgreSQL ``json``,
    not ``jsonb``, which would sort them), floats to the last bit; a figure is read by its name."""
    from django.db import connection

    results = {"zeta": {"2": [0.1 + 0.2, 1e-300, -0.0, 123456789.123456789]}, "alpha": None, "日本": "急性"}
    run = AnalysisRun.objects.create(
        name="cohort_summary", trigger="command", results=results, figures={"os": "<svg>OS</svg>"}
    )
    stored = AnalysisRun.objects.get(pk=run.pk)
    assert stored.results == results
    assert list(stored.results) == ["zeta", "alpha", "日本"]
    assert stored.results["zeta"]["2"][0] == 0.30000000000000004
    assert AnalysisRun.objects.filter(pk=run.pk).values_list("figures__os", flat=True).get() == "<svg>OS</svg>"
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_typeof(results)::text, pg_typeof(figures)::text FROM analysis_analysisrun WHERE id = %s",
                [run.pk],
            )
            assert cursor.fetchone() == ("json", "json")


def test_the_encoder_writes_what_json_dumps_writes():
    """The admin's form encodes with the field's encoder (sorted keys, indented): the same JSON."""
    import json

    field = AnalysisRun._meta.get_field("results")
    value = {"b": [1, 2.5, None, True], "a": {"x": "y"}, 3: "three"}
    text = json.dumps(value, sort_keys=False, cls=field.encoder)
    assert json.loads(text) == json.loads(json.dumps(value))
    assert json.dumps({"b": 1, "a": 2}, sort_keys=True, indent=2, cls=field.encoder) == json.dumps(
        {"b": 1, "a": 2}, sort_keys=True, indent=2
    )
