"""Password rules: one repeated character is refused, with the other validators in settings."""

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

from registry.security.passwords import RepeatedCharacterValidator


@pytest.mark.parametrize("password", ["aaaaaaaaaaaa", "############", "ZZZZZZZZZZZZZZZZZZZZ"])
def test_one_repeated_character_is_refused(password):
    with pytest.raises(ValidationError, match="one character repeated"):
        RepeatedCharacterValidator().validate(password)
    with pytest.raises(ValidationError, match="one character repeated"):
        validate_password(password)  # the validator is in AUTH_PASSWORD_VALIDATORS


def test_an_ordinary_password_passes():
    RepeatedCharacterValidator().validate("correct-horse-registry-42")
    validate_password("correct-horse-registry-42")
