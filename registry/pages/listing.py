"""Helpers of the list pages (patients, audit trail, audit review)."""


def query_without_page(request):
    """The request's query string without ``page``: the filters a pager's links keep."""
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()
