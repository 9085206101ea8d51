"""The console as the middleware sees it: ``server/html.py``'s ``HtmlSide``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from handlers.console.pages import Pages
from handlers.console.sessions import ConsoleSessions
from server.principal import Principal


class Console:
    """Sessions and CSRF from ``ConsoleSessions``, error pages from ``Pages``."""

    def __init__(self, sessions: ConsoleSessions, pages: Pages) -> None:
        self.sessions = sessions
        self.pages = pages

    async def authenticate(self, request: web.Request) -> Principal | None:
        return await self.sessions.authenticate(request)

    async def check_csrf(self, request: web.Request, principal: Principal | None) -> None:
        await self.sessions.check_csrf(request, principal)

    def error_page(
        self,
        request: web.Request,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any],
        headers: dict[str, str] | None,
    ) -> web.StreamResponse:
        return self.pages.error_page(request, status, code, message, details, headers)

    def finish(self, request: web.Request, response: web.StreamResponse) -> None:
        self.sessions.finish(request, response)
