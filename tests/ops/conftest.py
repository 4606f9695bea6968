"""Token-authenticated API clients per persona, as in tests/api."""

from tests.api.conftest import api, fast_password_hashing, fresh_throttles  # noqa: F401
