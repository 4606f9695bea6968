"""The demo cohort's R reference data is what the registry extracts from the default demo cohort.

tests/analysis/stats compares the statistics on tests/reference/data/demo_*.csv with R; this test
ties those CSVs to the registry: seed the default cohort, extract, and compare cell by cell.
"""

import pandas as pd
import pytest
from django.core.management import call_command

from registry.course import course_frame
from tests.reference.demo_frames import DATA, demo_frames


@pytest.mark.django_db
def test_committed_demo_csvs_are_the_extracted_demo_cohort():
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    frames = demo_frames(course_frame())
    for stem, frame in frames.items():
        committed = pd.read_csv(DATA / f"{stem}.csv")
        extracted = pd.read_csv(pd.io.common.StringIO(frame.to_csv(index=False)))
        pd.testing.assert_frame_equal(extracted, committed, check_exact=True, obj=stem)
