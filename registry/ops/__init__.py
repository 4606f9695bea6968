"""Operations: background hand-offs that cannot be lost, liveness, health, request ids,
problem documents for API errors, safe retries (Idempotency-Key), structured logs, backups.

A Django app of its own (label ``ops``) inside the registry package, with its own tables.
"""
