"""The request id (and user) of the request being served, for log lines and problem documents."""

import re
import uuid
from contextvars import ContextVar

_request_id = ContextVar("request_id", default="")
_user = ContextVar("user", default="")

# A client's X-Request-ID is kept when it is a sane token (so a proxy's id threads through).
SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


def new_request_id(offered=""):
    return offered if offered and SANE_ID.match(offered) else uuid.uuid4().hex


def request_id():
    return _request_id.get()


def user():
    return _user.get()


def bind(*, request_id=None, user=None):
    """Set the current request id and/or user; returns tokens for :func:`reset`."""
    tokens = []
    if request_id is not None:
        tokens.append((_request_id, _request_id.set(request_id)))
    if user is not None:
        tokens.append((_user, _user.set(user)))
    return tokens


def reset(tokens):
    for var, token in reversed(tokens):
        var.reset(token)
