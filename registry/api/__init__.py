"""The REST API (``/api/v1/``): the registry's records for scripts and other systems. See docs/api.md."""
