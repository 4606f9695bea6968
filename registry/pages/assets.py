"""Files browsers ask for at fixed addresses (outside /static/)."""

from pathlib import Path

from django.http import HttpResponse
from django.views.decorators.http import require_GET

FAVICON = (Path(__file__).resolve().parent.parent / "static" / "registry" / "favicon.ico").read_bytes()


@require_GET
def favicon(request):
    """``/favicon.ico``: browsers ask for it on every first visit; answer instead of a 404."""
    return HttpResponse(FAVICON, content_type="image/x-icon", headers={"Cache-Control": "public, max-age=604800"})
