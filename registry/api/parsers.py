"""A JSON parser that refuses oversized, non-UTF-8, non-standard (NaN, Infinity), too deeply nested
and absurdly large-numbered bodies with a 4xx (never a RecursionError's 500)."""

import json
import re

from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser

from ..transfer import uploads


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


# No record of the registry nests deeper than a few levels; anything beyond this is refused.
MAX_DEPTH = 32
# Digits of a number (clinical values and ids need far fewer).
MAX_NUMBER_DIGITS = 40


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def _parse_int(text):
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise ValueError(f"a number of more than {MAX_NUMBER_DIGITS} digits")
    return int(text)


def _parse_float(text):
    value = float(text)
    if len(text) > MAX_NUMBER_DIGITS + 10 or value in (float("inf"), float("-inf")):
        raise ValueError("a number too large or too long")
    return value


def _too_deep(text):
    """True if brackets nest deeper than MAX_DEPTH (counted outside strings, without recursion)."""
    depth = 0
    for bracket in _BRACKETS.findall(_STRINGS.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        if depth > MAX_DEPTH:
            return True
    return False


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


class LimitedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = uploads.max_body_bytes()
        request = (parser_context or {}).get("request")
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0) if request is not None else 0
        except ValueError:
            length = 0
        if limit and length > limit:
            raise PayloadTooLarge(uploads.body_too_large_message(length))
        data = stream.read(limit + 1) if limit else stream.read()
        if limit and len(data) > limit:
            raise PayloadTooLarge(uploads.body_too_large_message())
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ParseError("The request body is not UTF-8 encoded JSON.") from None
        if _too_deep(text):
            raise ParseError(f"The JSON nests deeper than {MAX_DEPTH} levels.")
        try:
            return json.loads(text, parse_constant=_reject_constant, parse_int=_parse_int, parse_float=_parse_float)
        except RecursionError:
            raise ParseError(f"The JSON nests deeper than {MAX_DEPTH} levels.") from None
        except ValueError as error:
            raise ParseError(f"Malformed JSON: {error}") from None
