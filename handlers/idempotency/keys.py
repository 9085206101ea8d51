"""The idempotency room's typed key (``server.keys.IDEMPOTENCY`` is the same object)."""

from __future__ import annotations

from aiohttp import web

from handlers.idempotency.service import IdempotencyService

IDEMPOTENCY_SERVICE = web.AppKey("idempotency_service", IdempotencyService)
