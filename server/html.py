"""HTML routes, a kind of their own: the staff console's pages under ``/admin/``.

A table declared ``ApiRoutes(prefix=CONSOLE_PREFIX, html=True)`` (``server/api.py``)
makes pages, and for them the one middleware (``server/middleware.py``)

- signs the caller in by the console's cookie session, never by a bearer token;
- after the declared ``Access`` (the same declarations and gate as the JSON API),
  refuses an unsafe method (POST, ...) that does not carry the CSRF token of the
  browser's session or sign-in form (403 ``csrf_invalid``);
- answers every error as an HTML page in the console's look (a 401 as a redirect to
  the sign-in page), never the JSON envelope;
- sets the console's CSP (scripts and styles from our own files only: no inline
  script or style, no nonce needed) and ``Cache-Control: no-store``;

and ``server/openapi.py`` leaves the pages out of the document (so schemathesis never
fuzzes them). The JSON API is untouched by any of it. The console room implements
``HtmlSide`` and sets it as ``app[HTML_SIDE]`` (``server/keys.py``): how sessions,
tokens and pages are made is the room's; when they apply is the middleware's.
"""

from __future__ import annotations

import functools
from typing import Any, Protocol
from urllib.parse import urlsplit

from aiohttp import web

from server.principal import Principal

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods that change nothing: no CSRF token is asked of them."""


class HtmlSide(Protocol):
    """What the middleware asks of the console for each HTML route."""

    async def authenticate(self, request: web.Request) -> Principal | None:
        """The signed-in staff member of the request's session cookie, if any (a forged,
        idle-expired or revoked session is none)."""
        ...

    async def check_csrf(self, request: web.Request, principal: Principal | None) -> None:
        """Raise ``AppError`` (403 ``csrf_invalid``) unless the unsafe request carries the
        CSRF token of its session (or, signed out, of its sign-in form)."""
        ...

    def error_page(
        self,
        request: web.Request,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any],
        headers: dict[str, str] | None,
    ) -> web.StreamResponse:
        """The error as a page (a 401: the way to the sign-in page)."""
        ...

    def finish(self, request: web.Request, response: web.StreamResponse) -> None:
        """Last touches of every page's answer (the renewed or cleared session cookie)."""
        ...


@functools.lru_cache(maxsize=4)
def html_csp(public_base_url: str) -> str:
    """The pages' CSP: everything from our own origin (photos also from
    ``PUBLIC_BASE_URL``, which is where media URLs point), nothing inline, no frames."""
    parts = urlsplit(public_base_url)
    media = f" {parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        f"img-src 'self' data:{media}; connect-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    )
