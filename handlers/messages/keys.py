"""The messages room's typed key."""

from __future__ import annotations

from aiohttp import web

from handlers.messages.service import MessageService

MESSAGE_SERVICE = web.AppKey("message_service", MessageService)
