"""Read-only admin of electronic signatures: signing and invalidation go through the services
(re-authentication, the role rule, the audit trail); nobody adds, edits or deletes one here."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from ..admin import ReadOnlyAdminMixin
from .models import Signature


@admin.register(Signature)
class SignatureAdmin(ReadOnlyAdminMixin, SimpleHistoryAdmin):
    list_display = ["pk", "kind", "label", "printed_name", "meaning", "signed_at", "invalidated_at"]
    list_filter = ["kind", "meaning", ("invalidated_at", admin.EmptyFieldListFilter)]
    search_fields = ["label", "printed_name", "signer__username"]
    date_hierarchy = "signed_at"
