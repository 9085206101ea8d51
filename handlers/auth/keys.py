"""The auth room's typed keys (``server.keys.AUTHENTICATOR`` is ``AUTH_SERVICE``)."""

from __future__ import annotations

from aiohttp import web

from handlers.auth.service import AuthService
from handlers.auth.staff import StaffAccountService

AUTH_SERVICE = web.AppKey("auth_service", AuthService)
STAFF_ACCOUNT_SERVICE = web.AppKey("staff_account_service", StaffAccountService)
