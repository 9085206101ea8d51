"""Request id, auth, rate limits, error envelope, metrics, access log, security headers.

One middleware, ``api_middleware``, in this order: request id; authentication (a bearer
token -> principal, when an ``Authorization`` header is sent), the per-user / per-address
rate limit, then the route's declared ``Access`` (token, roles); the handler; then the one
place where any failure becomes the API.md error envelope; security headers and
``X-Request-ID`` (a ``Prebuilt`` answer has them in its block: ``server/prebuilt.py``);
metrics and the access log. Each at its cheapest: docs/architecture.md.
HTML routes (the console's pages, ``server/html.py``) take the same path with their
own parts: the cookie session instead of the bearer token, the CSRF check after the
gate, HTML error pages instead of the envelope, and their own CSP.
(Not an ``on_response_prepare`` hook: that signal costs every response more than all
the headers together. Handlers that stream call ``add_standard_headers`` themselves.)
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import itertools
import logging
import re
import secrets
import time
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp.web_urldispatcher import AbstractRoute
from multidict import CIMultiDict, CIMultiDictProxy
from pydantic import ValidationError

from server.api import API_PREFIX, CONSOLE_PREFIX, RouteMeta, route_meta
from server.authorisation import Access
from server.errors import BACKEND_UNAVAILABLE, AppError, RateLimited, Unauthorized, Unavailable
from server.html import SAFE_METHODS, HtmlSide, html_csp
from server.keys import (
    ACCESS_LOG,
    AUTHENTICATOR,
    HTML_SIDE,
    METRICS,
    PRINCIPAL,
    RATE_LIMITER,
    REQUEST_ID,
    SETTINGS,
)
from server.prebuilt import DEFAULT_CSP, SECURITY_HEADERS, Prebuilt
from server.principal import Principal

log = logging.getLogger("jiangxin.app")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")

_HTTP_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    503: "unavailable",
}
_HTTP_MESSAGES = {
    404: "未找到",
    405: "不支持该请求方法",
    413: "请求体过大",
    415: "不支持的内容类型",
}


def error_response(
    status: int,
    code: str,
    message: str,
    request_id: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """The API.md error envelope."""
    body = {
        "error": {"code": code, "message": message, "details": details or {}},
        "request_id": request_id,
    }
    return web.Response(
        body=orjson.dumps(body),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def _validation_details(exc: ValidationError) -> dict[str, Any]:
    fields: dict[str, str] = {}
    for err in exc.errors(include_url=False, include_input=False):
        name = ".".join(str(part) for part in err["loc"]) or "body"
        fields.setdefault(name, err["msg"])
    return {"fields": fields}


ErrorParts = tuple[int, str, str, dict[str, Any] | None, dict[str, str] | None]


def _error_parts(exc: BaseException, request_id: str) -> ErrorParts:
    """Status, code, message, details and headers of any failure (logged if a 500)."""
    if isinstance(exc, AppError):
        return exc.status, exc.code, exc.message, exc.details, exc.headers
    if isinstance(exc, ValidationError):
        return 422, "invalid_request", "请求参数无效", _validation_details(exc), None
    if isinstance(exc, web.HTTPException):
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        code = _HTTP_CODES.get(exc.status, "invalid_request")
        return exc.status, code, _HTTP_MESSAGES.get(exc.status, exc.reason), None, headers
    if isinstance(exc, BACKEND_UNAVAILABLE):
        log.error("backend unavailable: %s", type(exc).__name__, extra={"request_id": request_id})
        unavailable = Unavailable()
        return 503, unavailable.code, unavailable.message, None, unavailable.headers
    log.exception("unhandled error", extra={"request_id": request_id})
    return 500, "internal", "服务器内部错误", None, None


def _error_from_exception(
    exc: BaseException, request: web.Request, request_id: str, side: HtmlSide | None
) -> web.StreamResponse:
    status, code, message, details, headers = _error_parts(exc, request_id)
    if side is not None:
        return side.error_page(request, status, code, message, details or {}, headers)
    return error_response(status, code, message, request_id, details, headers)


def _html_side(app: web.Application, meta: RouteMeta | None, path: str) -> HtmlSide | None:
    """The console, when the request is for one of its pages (or for a path under
    ``CONSOLE_PREFIX`` that matched none: its 404 is a page too)."""
    if meta is not None:
        return app[HTML_SIDE] if meta.html else None
    if path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/"):
        return app.get(HTML_SIDE)
    return None


_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Request ids we make: a random per-process prefix and a counter (cheaper than uuid4).
_ID_PREFIX = secrets.token_hex(6)
_id_counter = itertools.count(1)


@functools.lru_cache(maxsize=4096)  # keeps the route, so its id is never reused meanwhile
def _route_facts(route: AbstractRoute) -> tuple[str, RouteMeta | None, bool]:
    """A matched route's template (bounded label cardinality), declaration and whether it
    is under the API prefix: looked up once per route, not per request."""
    resource = route.resource
    template = resource.canonical if resource is not None else "unmatched"
    return template, route_meta(route.handler), template.startswith(API_PREFIX)


_UNMATCHED = ("unmatched", None, False)


@web.middleware
async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Everything around a handler, in one layer (each layer costs per request).

    Every request pays for its guarantees at their cheapest: a request with no
    ``Authorization`` header is not authenticated, a leased rate-limit budget is spent
    without a coroutine (``RateLimiter.spend``), the route's facts are looked up once per
    route, the caller's address is read once, and a ``Prebuilt`` answer carries its
    headers in its block (only the request id is stamped on it)."""
    headers = request.headers
    sent_id = headers.get("X-Request-ID")
    if sent_id is not None and _REQUEST_ID_RE.fullmatch(sent_id):
        request_id = sent_id
    else:
        request_id = f"{_ID_PREFIX}{next(_id_counter):010x}"
    request[REQUEST_ID] = request_id
    method = request.method
    if method not in _KNOWN_METHODS:
        method = "OTHER"
    match_info = request.match_info
    app = match_info.current_app
    metrics = app[METRICS].requests
    settings = app[SETTINGS]
    matched = match_info.http_exception is None
    route, meta, is_api = _route_facts(match_info.route) if matched else _UNMATCHED
    principal: Principal | None = None
    address: str | None = None
    started = time.perf_counter()
    metrics.started()
    side = None
    try:
        side = _html_side(app, meta, request.path)
        if matched:
            # Authenticate, rate-limit, then the route's declared access (token, roles);
            # a page (``side``: the console) by its session cookie, then its CSRF token.
            # Object-level rules (``Access.on``/``uses``) are the services' (they load it).
            auth_error: AppError | None = None
            try:
                if side is not None:
                    principal = await side.authenticate(request)
                elif "Authorization" in headers:
                    principal = await app[AUTHENTICATOR].authenticate(_bearer_token(headers))
            except AppError as exc:
                auth_error = exc  # counted against the address below before it is raised
            if meta is None or meta.rate_limited:
                # Limits come first, so floods of anonymous or forged-token requests are
                # throttled too. Signed-in users are limited per user, so a school behind
                # one NAT address is not throttled as one client.
                if principal is not None:
                    bucket, limit = f"user:{principal.user_id}", settings.rate_limit_user_per_minute
                else:
                    address = client_ip(request, settings.trusted_proxy_networks)
                    bucket, limit = f"ip:{address}", settings.rate_limit_ip_per_minute
                limiter = app[RATE_LIMITER]
                if not limiter.spend(bucket, limit, 60):
                    retry_after = await limiter.hit(bucket, limit, 60, leased=True)
                    if retry_after is not None:
                        raise RateLimited(retry_after)
            if auth_error is not None:
                raise auth_error
            if principal is not None:
                request[PRINCIPAL] = principal
            (meta.access if meta is not None else _UNDECLARED).admit(principal)
            if side is not None and request.method not in SAFE_METHODS:
                await side.check_csrf(request, principal)
        elif side is not None:  # a console path that is no page: its 404 shows who is in
            principal = await side.authenticate(request)
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:  # redirects and the like pass through untouched
            raise
        response = _error_from_exception(exc, request, request_id, side)
    except asyncio.CancelledError:  # the client went away, or shutdown gave up waiting
        metrics.finished(method, "cancelled", 499, time.perf_counter() - started)
        raise
    except Exception as exc:
        response = _error_from_exception(exc, request, request_id, side)
    elapsed = time.perf_counter() - started
    if type(response) is Prebuilt:
        response.request_id = request_id  # its block holds the rest
    elif not response.prepared:
        if side is None:
            _set_standard_headers(response.headers, request_id, is_api)
        else:
            side.finish(request, response)
            csp = html_csp(settings.public_base_url)
            _set_standard_headers(response.headers, request_id, True, csp)
    status = response.status
    metrics.finished(method, route, status, elapsed)
    access_log = app[ACCESS_LOG]
    if access_log.enabled:
        # The path, never the query string: it may carry signatures or personal data.
        access_log.record(
            request_id,
            method,
            request.path,
            route,
            status,
            elapsed,
            principal.user_id if principal is not None else None,
            address or client_ip(request, settings.trusted_proxy_networks),
        )
    return response


def _bearer_token(headers: CIMultiDictProxy[str]) -> str:
    scheme, _, token = headers["Authorization"].partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization 头格式应为 Bearer <token>")
    return token.strip()


@functools.lru_cache(maxsize=8)
def proxy_networks(spec: str) -> tuple[IPNetwork, ...]:
    """``TRUSTED_PROXY_NETWORKS`` parsed: comma-separated CIDRs (checked in settings)."""
    return tuple(ipaddress.ip_network(part.strip()) for part in spec.split(",") if part.strip())


def _trusted(address: str, networks: tuple[IPNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_ip(request: web.Request, trusted_networks: str) -> str:
    """The caller's address: the TCP peer, unless the peer is one of our proxies; then
    ``X-Forwarded-For`` read from the right, skipping our own proxies' hops. What a
    client writes into the header (left of our proxies') is never believed."""
    peer = request.remote or "unknown"
    networks = proxy_networks(trusted_networks)
    if not networks or not _trusted(peer, networks):
        return peer
    address = peer
    for hop in reversed(request.headers.get("X-Forwarded-For", "").split(",")):
        hop = hop.strip()
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break  # not an address: no proxy of ours wrote it; the last known hop stands
        address = hop
        if not _trusted(hop, networks):
            break
    return address


# A route added to the router by hand, without ApiRoutes, declared nothing: it is closed
# to anonymous callers rather than open by omission (and the matrix test fails on it).
_UNDECLARED = Access.signed_in()


def add_standard_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Request id and security headers. The middleware adds them to every response it
    sees unprepared; a handler that streams (prepares its own response) calls this first.
    """
    is_api = request.raw_path.startswith(API_PREFIX)
    _set_standard_headers(response.headers, request[REQUEST_ID], is_api)


def _set_standard_headers(
    headers: CIMultiDict[str], request_id: str, no_store: bool, csp: str = DEFAULT_CSP
) -> None:
    headers["X-Request-ID"] = request_id
    # A handler may set its own CSP (the docs page); everything else is fixed.
    # Set by nothing else, so appended rather than merged (cheaper, on every response).
    headers.extend(SECURITY_HEADERS)
    if "Content-Security-Policy" not in headers:
        headers["Content-Security-Policy"] = csp
    if no_store and "Cache-Control" not in headers:
        headers["Cache-Control"] = "no-store"


__all__ = ["add_standard_headers", "api_middleware", "client_ip", "error_response"]
