"""Errors of the services and the import, as DRF responses: field-located 400s, 403, 412, 413."""

from django.core.exceptions import NON_FIELD_ERRORS, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from ..services import StaleVersion
from ..transfer import uploads
from ..transfer.uploads import ImportRejected


def validation_detail(error):
    """A Django ValidationError as DRF's {field: [messages]} (non-field errors under non_field_errors)."""
    if hasattr(error, "error_dict"):
        return {
            (api_settings.NON_FIELD_ERRORS_KEY if field == NON_FIELD_ERRORS else field): messages
            for field, messages in error.message_dict.items()
        }
    return {api_settings.NON_FIELD_ERRORS_KEY: error.messages}


def exception_handler(exc, context):
    if isinstance(exc, StaleVersion):
        return Response(
            {"detail": exc.messages[0], "code": "stale_version"}, status=status.HTTP_412_PRECONDITION_FAILED
        )
    if isinstance(exc, DjangoValidationError):
        return Response(validation_detail(exc), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ImportRejected):
        return Response({"detail": exc.message}, status=exc.status)
    if isinstance(exc, RequestDataTooBig):
        return Response(
            {"detail": uploads.body_too_large_message()},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    return drf_exception_handler(exc, context)
