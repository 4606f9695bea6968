"""``/api/v1/analyses/``: stored analysis runs, read-only, scoped by ``AnalysisRun.objects.for_user``."""
