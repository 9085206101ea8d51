"""The one way handlers ask who is calling and check roles."""

from __future__ import annotations

from aiohttp import web

from server.errors import Forbidden, Unauthorized
from server.keys import PRINCIPAL
from server.principal import Principal, Role


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


def require_role(request: web.Request, *roles: Role) -> Principal:
    """The caller, who must hold one of ``roles`` (admin holds them all); else 403."""
    principal = current_principal(request)
    if roles and not principal.has_any(*roles):
        raise Forbidden(details={"required_roles": sorted(roles)})
    return principal
