"""Every vocabulary test starts and ends with the regimen lists read afresh (they are cached per process)."""

import pytest

from registry.vocabularies.models import forget_cached


@pytest.fixture(autouse=True)
def fresh_lists():
    forget_cached()
    yield
    forget_cached()
