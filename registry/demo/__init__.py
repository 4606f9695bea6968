"""The synthetic demo cohort: a pure generator (cohort) and its seeding into the registry."""
