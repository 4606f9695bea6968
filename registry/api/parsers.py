"""A JSON parser that refuses oversized, non-UTF-8 and non-standard (NaN, Infinity) bodies with a 4xx."""

import json

from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser

from ..transfer import uploads


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


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
        try:
            return json.loads(text, parse_constant=_reject_constant)
        except ValueError as error:
            raise ParseError(f"Malformed JSON: {error}") from None
