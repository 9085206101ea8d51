"""Operations: liveness, readiness, metrics, the OpenAPI document and its docs page."""

from __future__ import annotations

from handlers.ops.routes import build_openapi_doc, routes
from server.room import Room

ROOM = Room(name="ops", routes=(routes,), setup=build_openapi_doc)
