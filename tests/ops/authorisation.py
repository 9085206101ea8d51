"""The operations room in the authorisation matrix: every route is public (probes,
Prometheus and the API document are reached without a token; the network in front of
the app decides who reaches them, docs/operations.md)."""

from __future__ import annotations

from tests.fixtures.authorisation import Call, Case, builds, plain

plain(
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
)


@builds("GET", "/docs/static/{bundle}/{name}")
async def docs_asset(case: Case) -> Call:
    return Call(path={"bundle": "swagger", "name": "swagger-ui.css"})
