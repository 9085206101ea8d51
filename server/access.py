"""The one way handlers ask who is calling (what they may call: server/authorisation.py)."""

from __future__ import annotations

from aiohttp import web

from server.errors import Unauthorized
from server.keys import PRINCIPAL
from server.principal import Principal


def current_principal(request: web.Request) -> Principal:
    """The authenticated caller; 401 if the request carries no valid token."""
    principal: Principal | None = request.get(PRINCIPAL)
    if principal is None:
        raise Unauthorized()
    return principal


def optional_principal(request: web.Request) -> Principal | None:
    """The caller on a public route, if they sent a valid token."""
    principal: Principal | None = request.get(PRINCIPAL)
    return principal
