"""The media room's typed key."""

from __future__ import annotations

from aiohttp import web

from handlers.media.service import MediaService

MEDIA_SERVICE = web.AppKey("media_service", MediaService)
