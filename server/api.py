"""Route declarations that carry their contract: access, models, documented errors.

Every route declares its ``access`` (``server/authorisation.py``: public, signed in, or which
roles, and on whose objects); a route without one is refused when it is registered,
so none is open by omission. The metadata feeds the auth middleware, the OpenAPI
document and the authorisation matrix test, so the three cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from server.authorisation import Access

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

API_PREFIX = "/api/v1"
_META_ATTR = "__jiangxin_route__"


@dataclass(frozen=True, slots=True)
class RouteMeta:
    """What a route promises; read by the middleware and by ``server.openapi``."""

    summary: str
    access: Access
    body: type[BaseModel] | None = None
    body_content_type: str = "application/json"
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[str, ...] = ()
    rate_limited: bool = True
    tag: str = "api"
    # Non-JSON answers (HTML, images, Prometheus text) name their media type here.
    content_type: str | None = None
    extra_responses: dict[int, str] = field(default_factory=dict)


def route_meta(handler: Any) -> RouteMeta | None:
    """The metadata a handler was declared with, if any."""
    meta = getattr(handler, _META_ATTR, None)
    return meta if isinstance(meta, RouteMeta) else None


class UndeclaredAccess(TypeError):
    """A route registered without ``access=``: who may call it is never left implicit."""


_ID_PARAM = re.compile(r"\{([a-z_]*_id)\}")
# What the router lets into an id segment: an ObjectId (any case: server/ids.py makes it
# canonical) or, for media, also our 32-digit ids. Anything else matches no route (404),
# so a literal segment beside an id (POST /checkins/review, GET /checkins/{checkin_id})
# is not taken for an id, and a 405 names only the methods of the route that matched.
_ID_PATTERNS = {"media_id": "[0-9a-fA-F]{24}|[0-9a-fA-F]{32}"}
_OBJECT_ID_PATTERN = "[0-9a-fA-F]{24}"


def router_path(path: str) -> str:
    """``path`` with each ``{…_id}`` limited to what an id can be (the resource's
    canonical template, used by metrics and the OpenAPI document, stays ``path``)."""
    return _ID_PARAM.sub(
        lambda m: f"{{{m.group(1)}:{_ID_PATTERNS.get(m.group(1), _OBJECT_ID_PATTERN)}}}", path
    )


class ApiRoutes:
    """A ``RouteTableDef`` whose decorators also record each route's ``RouteMeta``."""

    def __init__(self, *, prefix: str = API_PREFIX, tag: str = "api") -> None:
        self.prefix = prefix
        self.tag = tag
        self.table = web.RouteTableDef()

    def route(
        self, method: str, path: str, summary: str, **options: Any
    ) -> Callable[[Handler], Handler]:
        if not isinstance(options.get("access"), Access):
            raise UndeclaredAccess(
                f"{method} {self.prefix}{path}: declare access=Access.public(), "
                "Access.signed_in() or Access.roles(...) (server/authorisation.py)"
            )
        options.setdefault("tag", self.tag)
        meta = RouteMeta(summary=summary, **options)

        def register(handler: Handler) -> Handler:
            setattr(handler, _META_ATTR, meta)
            self.table.route(method, self.prefix + router_path(path))(handler)
            return handler

        return register

    def get(self, path: str, summary: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, summary, **options)

    def post(self, path: str, summary: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, summary, **options)

    def patch(self, path: str, summary: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, summary, **options)

    def put(self, path: str, summary: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, summary, **options)

    def delete(self, path: str, summary: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, summary, **options)
