"""API views: reads scoped by ``for_user`` (another center's record is a 404), writes through the services.

Edits carry the version the client read (``If-Match: W/"3"`` or a ``version`` field): a missing
one is refused with 428, a stale one with 412, so no edit lands on top of someone else's. The
reason for a change or a deletion comes from the ``X-Reason-For-Change`` header or a
``reason`` field (for DELETE, also ``?reason=``) and is stored in the audit trail with source
``api``.
"""

import json
import re
from urllib.parse import unquote

from django.db.models import Prefetch
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.authtoken.models import Token
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound, PermissionDenied, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from .. import services
from ..models import Center, FirstLineResponse, FollowUp, ImportJob, Patient, Relapse, SalvageLine, Transplant, Trial
from ..transfer import data_dictionary, exports, imports, uploads
from . import filters
from . import serializers as s
from .pagination import ClinicalRecordPagination
from .permissions import CanImport, CanReview, ClinicalRecordPermission, HasRegistryRole

_ETAG = re.compile(r'^\s*(?:W/)?"?(\d{1,10})"?\s*$')
REASON_HEADER = "X-Reason-For-Change"


class PreconditionRequired(APIException):
    status_code = 428
    default_detail = (
        'Send the version you edited, as an If-Match header (e.g. If-Match: W/"3", from the ETag of your GET) '
        "or a version field, so that a change made since then is not overwritten."
    )
    default_code = "precondition_required"


class PreconditionFailed(APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_code = "stale_version"


def etag(record):
    return f'W/"{record.version}"'


def _header_text(value):
    """Header values arrive as latin-1; a UTF-8 reason (or a %-encoded one) is read back as such."""
    try:
        value = value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    return unquote(value).strip()


def reason_of(request):
    header = request.headers.get(REASON_HEADER, "")
    if header:
        return _header_text(header)[:255]
    data = request.data if hasattr(request.data, "get") else {}
    return str(data.get("reason") or request.query_params.get("reason") or "").strip()[:255]


def expected_version(request, record, *, required=True):
    """The version the client read (If-Match, else the ``version`` field); 428 if absent, 412 if stale."""
    header = request.headers.get("If-Match")
    version = None
    if header is not None:
        match = _ETAG.match(header)
        if not match:
            raise ValidationError({"If-Match": [f'Use the ETag of the record, e.g. W/"{record.version}".']})
        version = int(match.group(1))
    else:
        data = request.data if hasattr(request.data, "get") else {}
        raw = data.get("version")
        if raw is not None and raw != "":
            try:
                version = int(raw)
            except (TypeError, ValueError):
                raise ValidationError({"version": ["A valid integer is required."]}) from None
    if version is None:
        if required:
            raise PreconditionRequired()
        return None
    if version != record.version:
        raise PreconditionFailed(
            f"{record._meta.verbose_name.capitalize()} was changed by someone else since you read it "
            f"(your version {version}, now {record.version}). GET it again and re-apply your change."
        )
    return version


_WRITE_ERRORS = {
    400: OpenApiResponse(description="Invalid data, unknown field or missing reason; messages by field."),
    403: OpenApiResponse(description="Your role may not make this change (or the patient is locked)."),
    404: OpenApiResponse(description="No such record among the centers you may see."),
}
_EDIT_HEADERS = [
    OpenApiParameter(
        "If-Match",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        description='The ETag you read, e.g. W/"3" (or send a version field).',
    ),
    OpenApiParameter(
        REASON_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, description="Reason for change (or a reason field)."
    ),
]
_EDIT_ERRORS = {
    **_WRITE_ERRORS,
    412: OpenApiResponse(description="Stale version: the record changed since you read it."),
    428: OpenApiResponse(description="No version sent (If-Match header or version field)."),
}


def _clinical_schema(serializer_class, label):
    return extend_schema_view(
        list=extend_schema(
            summary=f"List {label}",
            description="Only records of the centers you may see. Pages by cursor: follow the next and previous "
            "links (docs/api.md).",
            responses={200: serializer_class, 400: OpenApiResponse(description="Invalid filter value or cursor.")},
        ),
        retrieve=extend_schema(summary=f"One of the {label}", description="Carries its version as the ETag header."),
        create=extend_schema(summary=f"Create one of the {label}", responses={201: serializer_class, **_WRITE_ERRORS}),
        update=extend_schema(
            summary=f"Replace one of the {label}",
            parameters=_EDIT_HEADERS,
            responses={200: serializer_class, **_EDIT_ERRORS},
        ),
        partial_update=extend_schema(
            summary=f"Change one of the {label}",
            parameters=_EDIT_HEADERS,
            responses={200: serializer_class, **_EDIT_ERRORS},
        ),
        destroy=extend_schema(
            summary=f"Delete one of the {label} (data managers)",
            parameters=[
                OpenApiParameter(REASON_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, description="Reason."),
                OpenApiParameter("reason", OpenApiTypes.STR, description="Reason (instead of the header)."),
                OpenApiParameter("If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, description="Optional ETag."),
            ],
            responses={204: None, **_EDIT_ERRORS},
        ),
    )


class ClinicalViewSet(viewsets.ModelViewSet):
    """A clinical record type: list/retrieve for every role, create/edit for coordinators, delete for data managers."""

    permission_classes = [ClinicalRecordPermission]
    pagination_class = ClinicalRecordPagination  # by cursor: a page costs the same whatever the registry's size
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]
    model = None
    related = ("patient",)
    search_fields = ["patient__study_id"]

    def get_queryset(self):
        return self.model.objects.for_user(self.request.user).select_related(*self.related)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["reason"] = reason_of(self.request) if self.request else ""
        context["expected_version"] = getattr(self, "_expected_version", None)
        return context

    def retrieve(self, request, *args, **kwargs):
        instance = self.get_object()
        tag = etag(instance)
        if request.headers.get("If-None-Match") == tag:
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": tag})
        return Response(self.get_serializer(instance).data, headers={"ETag": tag})

    def create(self, request, *args, **kwargs):
        response = super().create(request, *args, **kwargs)
        response["ETag"] = f'W/"{response.data["version"]}"'
        response["Location"] = reverse(f"api:{self.basename}-detail", args=[response.data["id"]], request=request)
        return response

    def update(self, request, *args, **kwargs):
        self._expected_version = expected_version(request, self.get_object())
        response = super().update(request, *args, **kwargs)
        response["ETag"] = f'W/"{response.data["version"]}"'
        return response

    def destroy(self, request, *args, **kwargs):
        record = self.get_object()
        expected_version(request, record, required=False)
        services.delete_record(user=request.user, record=record, reason=reason_of(request), source=s.API_SOURCE)
        return Response(status=status.HTTP_204_NO_CONTENT)


@_clinical_schema(s.PatientSerializer, "patients")
class PatientViewSet(ClinicalViewSet):
    """Patients with their whole course (first-line response, relapses, salvage lines, HSCTs, follow-ups)."""

    model = Patient
    serializer_class = s.PatientSerializer
    filterset_class = filters.PatientFilter
    search_fields = ["study_id"]
    ordering_fields = ["study_id", "diagnosis_date", "registration_date", "wbc", "updated_at"]
    ordering = ["study_id"]

    def get_queryset(self):
        # A constant number of queries whatever the page size: one per related table. Each
        # patient's events come in date order; the models' default ordering starts with the
        # patient, which would join the patient table into every prefetch to sort by study ID.
        return (
            Patient.objects.for_user(self.request.user)
            .select_related("center", "trial", "first_line_response")
            .prefetch_related(
                Prefetch("relapses", Relapse.objects.order_by("relapse_date", "pk")),
                Prefetch("salvage_lines", SalvageLine.objects.order_by("start_date", "pk")),
                Prefetch("transplants", Transplant.objects.order_by("transplant_date", "pk")),
                Prefetch("follow_ups", FollowUp.objects.order_by("contact_date", "pk")),
            )
        )

    @extend_schema(
        summary="Verify and/or lock a patient's data (data managers)",
        request=s.ReviewSerializer,
        responses={
            200: s.PatientSerializer,
            400: OpenApiResponse(description="Invalid request."),
            403: OpenApiResponse(description="Not a data manager."),
            404: OpenApiResponse(description="Not found."),
        },
    )
    @action(detail=True, methods=["post"], permission_classes=[CanReview])
    def review(self, request, pk=None):
        patient = self.get_object()
        review = s.ReviewSerializer(data=request.data)
        review.is_valid(raise_exception=True)
        services.review_patient(user=request.user, patient=patient, source=s.API_SOURCE, **review.validated_data)
        patient = self.get_queryset().get(pk=patient.pk)
        return Response(self.get_serializer(patient).data, headers={"ETag": etag(patient)})


@_clinical_schema(s.FirstLineResponseSerializer, "first-line responses")
class FirstLineResponseViewSet(ClinicalViewSet):
    model = FirstLineResponse
    serializer_class = s.FirstLineResponseSerializer
    filterset_class = filters.FirstLineResponseFilter
    ordering_fields = ["assessment_date", "patient__study_id", "updated_at"]
    ordering = ["patient__study_id"]


@_clinical_schema(s.RelapseSerializer, "relapses")
class RelapseViewSet(ClinicalViewSet):
    model = Relapse
    serializer_class = s.RelapseSerializer
    filterset_class = filters.RelapseFilter
    ordering_fields = ["relapse_date", "patient__study_id", "updated_at"]
    ordering = ["patient__study_id", "relapse_date"]


@_clinical_schema(s.SalvageLineSerializer, "salvage lines")
class SalvageLineViewSet(ClinicalViewSet):
    model = SalvageLine
    serializer_class = s.SalvageLineSerializer
    filterset_class = filters.SalvageLineFilter
    search_fields = ["patient__study_id", "regimen", "agents"]
    ordering_fields = ["start_date", "patient__study_id", "updated_at"]
    ordering = ["patient__study_id", "start_date"]


@_clinical_schema(s.TransplantSerializer, "transplants")
class TransplantViewSet(ClinicalViewSet):
    model = Transplant
    serializer_class = s.TransplantSerializer
    filterset_class = filters.TransplantFilter
    ordering_fields = ["transplant_date", "patient__study_id", "updated_at"]
    ordering = ["patient__study_id", "transplant_date"]


@_clinical_schema(s.FollowUpSerializer, "follow-ups")
class FollowUpViewSet(ClinicalViewSet):
    model = FollowUp
    serializer_class = s.FollowUpSerializer
    filterset_class = filters.FollowUpFilter
    ordering_fields = ["contact_date", "patient__study_id", "updated_at"]
    ordering = ["patient__study_id", "contact_date"]


class CenterViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Center.objects.all()
    serializer_class = s.CenterSerializer
    search_fields = ["code", "name"]
    ordering_fields = ["code", "name"]
    filterset_fields = ["code"]


class TrialViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Trial.objects.all()
    serializer_class = s.TrialSerializer
    filterset_fields = ["code"]
    ordering_fields = ["code"]


@extend_schema_view(
    list=extend_schema(summary="Your import jobs"),
    retrieve=extend_schema(summary="One of your import jobs: status, progress and report"),
)
class ImportJobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Bulk import: upload (a dry run is done at once), read the report, then commit."""

    permission_classes = [CanImport]
    queryset = ImportJob.objects.none()  # for the schema; requests use get_queryset
    serializer_class = s.ImportJobSerializer
    parser_classes = [MultiPartParser]  # a file; every other endpoint takes JSON only
    filter_backends = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ImportJob.objects.none()
        return imports.jobs_for(self.request.user).select_related("user")

    @extend_schema(
        summary="Upload a CSV or XLSX file and check it (dry run: nothing is written)",
        request={"multipart/form-data": s.ImportUploadSerializer},
        responses={
            201: s.ImportJobSerializer,
            202: s.ImportJobSerializer,
            400: OpenApiResponse(description="Unreadable file."),
            413: OpenApiResponse(description="Too large."),
            415: OpenApiResponse(description="Not a .csv, .xlsx or .zip file."),
        },
    )
    def create(self, request):
        upload = s.ImportUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        file = upload.validated_data["file"]
        uploads.check_file_size(file.size)  # before reading the file into memory
        job = imports.create_job(
            user=request.user,
            file_name=file.name,
            content=file.read(),
            entity=upload.validated_data.get("entity", ""),
            reason=upload.validated_data.get("reason", ""),
            encoding=upload.validated_data.get("encoding", "auto"),
        )
        job = imports.start(job, action="check")
        code = status.HTTP_202_ACCEPTED if job.status == job.Status.QUEUED else status.HTTP_201_CREATED
        return Response(s.ImportJobSerializer(job).data, status=code)

    @extend_schema(
        summary="Commit a checked import, all or nothing",
        request=None,
        responses={
            200: s.ImportJobSerializer,
            202: s.ImportJobSerializer,
            409: OpenApiResponse(description="The dry run found problems, or the job is not checked."),
        },
    )
    @action(detail=True, methods=["post"])
    def commit(self, request, pk=None):
        job = self.get_object()
        job = imports.start(job, action="commit")
        code = status.HTTP_202_ACCEPTED if job.status == job.Status.QUEUED else status.HTTP_200_OK
        return Response(s.ImportJobSerializer(job).data, status=code)


class FileRenderer(BaseRenderer):
    """Lets any Accept header reach the download views (errors are still JSON)."""

    media_type = "*/*"
    format = "file"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes) else json.dumps(data).encode()


class ExportIndexView(APIView):
    @extend_schema(
        summary="The exports you may download",
        operation_id="exports_list",
        responses=inline_serializer("ExportIndex", {"exports": serializers.ListField(child=serializers.DictField())}),
    )
    def get(self, request):
        return Response(
            {
                "exports": [
                    {
                        "kind": kind,
                        "formats": list(formats),
                        "urls": {
                            fmt: reverse("api:export-download", args=[kind, fmt], request=request) for fmt in formats
                        },
                    }
                    for kind, formats in exports.available(request.user)
                ]
            }
        )


_EXPORT_FORMATS = sorted({fmt for formats in exports.KINDS.values() for fmt in formats})
# What a download is sent as: its format's content type (without the charset parameter).
_EXPORT_MEDIA_TYPES = sorted({content_type.split(";")[0] for content_type in exports.CONTENT_TYPES.values()})


class ExportDownloadView(APIView):
    renderer_classes = [JSONRenderer, FileRenderer]

    @extend_schema(
        summary="Download an export (logged)",
        operation_id="exports_download",
        description="kind: analysis (zip, xlsx, csv, xpt, dta, sav; docs/analysis-data-set.md), "
        "identified (xlsx, zip; admins), odm (xml; admins), "
        "dictionary (md, csv, xlsx template). CSV files (alone or in a ZIP) are UTF-8 with a byte-order mark, "
        "or Shift_JIS for Japanese Excel with ?encoding=cp932.",
        parameters=[
            OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=list(exports.KINDS)),
            OpenApiParameter("fmt", str, OpenApiParameter.PATH, enum=_EXPORT_FORMATS),
            OpenApiParameter(
                "encoding",
                str,
                enum=["utf-8", "cp932"],
                description="Of CSV files: utf-8 (with a byte-order mark; the default) or cp932 (Shift_JIS).",
            ),
        ],
        responses={
            **{(200, media_type): OpenApiTypes.BINARY for media_type in _EXPORT_MEDIA_TYPES},
            400: OpenApiResponse(description="Unknown encoding, or a character Shift_JIS cannot write."),
            403: OpenApiResponse(description="Your role may not download it."),
            404: OpenApiResponse(description="No such export (a kind and format that do not go together)."),
        },
    )
    def get(self, request, kind, fmt):
        try:
            content, content_type, file_name = exports.export(
                user=request.user,
                kind=kind,
                fmt=fmt,
                source="api",
                encoding=request.query_params.get("encoding") or "utf-8",
            )
        except exports.UnknownExport as error:
            raise NotFound(str(error)) from None
        except exports.CsvEncodingError as error:
            raise ValidationError({"encoding": [error.message]}) from None
        except exports.PermissionDenied as error:
            raise PermissionDenied(str(error)) from None
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{file_name}"'
        return response


class DataDictionaryView(APIView):
    @extend_schema(
        summary="The data dictionary (import layout, analysis variables, code lists)",
        responses=inline_serializer(
            "DataDictionary",
            {
                "sheets": serializers.ListField(child=serializers.DictField()),
                "analysis_variables": serializers.ListField(child=serializers.DictField()),
                "code_lists": serializers.DictField(),
            },
        ),
    )
    def get(self, request):
        d = data_dictionary
        return Response(
            {
                "sheets": [
                    {
                        "name": sheet.name,
                        "label": sheet.label,
                        "key": list(sheet.key),
                        "columns": [
                            {
                                "name": c.name,
                                "label": c.label,
                                "type": c.kind,
                                "required": c.required,
                                "code_list": c.code_list,
                                "codes": d.allowed_codes(c),
                                "description": c.description,
                            }
                            for c in sheet.columns
                        ],
                    }
                    for sheet in d.SHEETS
                ],
                "analysis_variables": [
                    {
                        "name": v.name,
                        "label": v.label,
                        "type": v.kind,
                        "description": v.description,
                        "value_labels": [
                            {"number": i, "code": code, "label": str(label)}
                            for i, (code, label) in enumerate(v.value_labels(), start=1)
                        ],
                    }
                    for v in d.ANALYSIS_VARIABLES
                ],
                "code_lists": {
                    name: [{"code": code, "label": str(label)} for code, label in cls.choices]
                    for name, cls in d.code_lists().items()
                },
            }
        )


class TokenView(APIView):
    """Your API token: create (or replace) it while logged in, read it, revoke it."""

    permission_classes = [HasRegistryRole]
    _token = inline_serializer("Token", {"token": serializers.CharField(), "created": serializers.DateTimeField()})

    @extend_schema(summary="Your API token", responses={200: _token, 404: OpenApiResponse(description="None yet.")})
    def get(self, request):
        token = get_object_or_404(Token, user=request.user)
        return Response({"token": token.key, "created": token.created})

    @extend_schema(summary="Create or replace your API token", request=None, responses={201: _token})
    def post(self, request):
        Token.objects.filter(user=request.user).delete()
        token = Token.objects.create(user=request.user)
        return Response({"token": token.key, "created": token.created}, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Revoke your API token", responses={204: None})
    def delete(self, request):
        Token.objects.filter(user=request.user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
