"""The demo cohort's analysis frames in the R script's column convention.

`python -m tests.reference.demo_frames` (with DJANGO_SETTINGS_MODULE set and the demo cohort
seeded by `manage.py seed_demo`) writes them to tests/reference/data/demo_*.csv; then run
`Rscript tests/reference/survival_reference.R`. tests/analysis/test_demo_reference.py checks that
the committed CSVs are exactly what the registry extracts from a fresh default demo cohort.
"""

from pathlib import Path

import pandas as pd

DATA = Path(__file__).resolve().parent / "data"


def demo_frames(course):
    """{file stem: DataFrame} for the OS-after-second-line, relapse-incidence and counting-process sets."""
    from analysis import datasets

    os2 = datasets.os_after_second_line(course).sort_values("study_id", ignore_index=True)
    cir = datasets.relapse_incidence(course).sort_values("study_id", ignore_index=True)
    cp = datasets.counting_process(os2)
    ids = {pid: i + 1 for i, pid in enumerate(os2["patient_id"])}
    frames = {
        "demo_os_after_second_line": pd.DataFrame(
            {
                "id": range(1, len(os2) + 1),
                "duration": os2["time"],
                "event": os2["event"],
                "event_type": os2["event"],
                "group": os2["first_remission"],
                "bin1": os2["age_under_3_months"],
                "bin2": 1 - os2["salvage_remission"],
                "cont": os2["cns_involvement"],
            }
        ),
        "demo_relapse_incidence": pd.DataFrame(
            {
                "id": range(1, len(cir) + 1),
                "duration": cir["time"],
                "event": (cir["event_type"] == 1).astype(int),
                "event_type": cir["event_type"],
                "group": cir["trial"],
                "bin1": cir["age_under_3_months"],
                "bin2": cir["cns_involvement"],
                "cont": cir["wbc_100_or_more"],
            }
        ),
        "demo_os_after_second_line_cp": pd.DataFrame(
            {
                "id": cp["patient_id"].map(ids),
                "start": cp["start"],
                "stop": cp["stop"],
                "event": cp["event"],
                "transplanted": cp["hsct"],
                "bin1": cp["salvage_remission"],
            }
        ),
    }
    return frames


def main():
    import django

    django.setup()
    from registry.course import course_frame

    for stem, frame in demo_frames(course_frame()).items():
        frame.to_csv(DATA / f"{stem}.csv", index=False)
        print(f"wrote {stem}.csv ({len(frame)} rows)")


if __name__ == "__main__":
    main()
