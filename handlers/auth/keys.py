"""The auth room's typed key (``server.keys.AUTHENTICATOR`` is the same service)."""

from __future__ import annotations

from aiohttp import web

from handlers.auth.service import AuthService

AUTH_SERVICE = web.AppKey("auth_service", AuthService)
