"""Operations, outside /api/v1: liveness, readiness, metrics, the API document and docs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import orjson
from aiohttp import web
from openapi_ui_bundles import swagger_ui

import server
from server.api import ApiRoutes
from server.authorisation import Access
from server.keys import METRICS, MONGO_DB, REDIS
from server.openapi import build_openapi
from server.prebuilt import ConstantJson
from server.rest import respond

routes = ApiRoutes(prefix="", tag="operations")

STATIC_DIR = Path(server.__file__).resolve().parent / "static"  # shipped as package data
SWAGGER_DIR = Path(swagger_ui.static_path)
OPENAPI_DOC = web.AppKey("openapi_doc", bytes)
_HEALTHY = ConstantJson(orjson.dumps({"status": "ok"}))  # its headers built once

_DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
)


def app_version() -> str:
    try:
        return version("jiangxin")
    except PackageNotFoundError:
        return "0.0.0"


@routes.get(
    "/healthz",
    "The process is alive",
    access=Access.public(),
    rate_limited=False,
    content_type=None,
)
async def healthz(request: web.Request) -> web.Response:
    return _HEALTHY.answer()


async def _mongo_answers(request: web.Request) -> bool:
    try:
        await asyncio.wait_for(request.app[MONGO_DB].command("ping"), timeout=2)
    except Exception:  # any failure means "not ready"; the reason is in the DB's own logs
        return False
    return True


@routes.get(
    "/readyz",
    "MongoDB and Redis answer (503 with Retry-After when not)",
    access=Access.public(),
    rate_limited=False,
    extra_responses={503: "Not ready"},
)
async def readyz(request: web.Request) -> web.Response:
    mongo_ok, redis_ok = await asyncio.gather(_mongo_answers(request), request.app[REDIS].ping())
    checks = {"mongodb": "ok" if mongo_ok else "down", "redis": "ok" if redis_ok else "down"}
    if mongo_ok and redis_ok:
        return respond({"status": "ready", "checks": checks})
    return respond(
        {"status": "not_ready", "checks": checks}, status=503, headers={"Retry-After": "5"}
    )


@routes.get(
    "/metrics",
    "Prometheus metrics",
    access=Access.public(),
    rate_limited=False,
    content_type="text/plain",
)
async def metrics(request: web.Request) -> web.Response:
    metrics_ = request.app[METRICS]
    body = await asyncio.to_thread(metrics_.render)
    response = web.Response(body=body)
    response.headers["Content-Type"] = metrics_.content_type
    return response


@routes.get(
    "/openapi.json", "This document", access=Access.public(), rate_limited=False, content_type=None
)
async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI_DOC], content_type="application/json")


@routes.get(
    "/docs",
    "Interactive API documentation",
    access=Access.public(),
    rate_limited=False,
    content_type="text/html",
)
async def docs(request: web.Request) -> web.FileResponse:
    response = web.FileResponse(STATIC_DIR / "docs.html")
    response.headers["Content-Security-Policy"] = _DOCS_CSP
    return response


@contextlib.asynccontextmanager
async def build_openapi_doc(app: web.Application) -> AsyncIterator[None]:
    """At startup every route is registered: build the document once."""
    app[OPENAPI_DOC] = orjson.dumps(build_openapi(app, "jiangxin API", app_version()))
    yield


_DOC_ASSETS = {
    "swagger": {
        name: SWAGGER_DIR / name
        for name in ("swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png")
    },
    "app": {"docs.js": STATIC_DIR / "docs.js"},
}


@routes.get(
    "/docs/static/{bundle:swagger|app}/{name}",
    "Assets of the documentation page (bundled: the machines are offline)",
    access=Access.public(),
    rate_limited=False,
    content_type="application/octet-stream",
)
async def docs_asset(request: web.Request) -> web.FileResponse:
    path = _DOC_ASSETS.get(request.match_info["bundle"], {}).get(request.match_info["name"])
    if path is None:
        raise web.HTTPNotFound()
    response = web.FileResponse(path)
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response
