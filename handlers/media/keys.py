"""The media room's typed keys."""

from __future__ import annotations

from aiohttp import web

from handlers.media.moderation import MediaModeration
from handlers.media.service import MediaService

MEDIA_SERVICE = web.AppKey("media_service", MediaService)
MEDIA_MODERATION = web.AppKey("media_moderation", MediaModeration)
