"""The events room's typed keys."""

from __future__ import annotations

from aiohttp import web

from handlers.events.events import EventService
from handlers.events.reminders import EventMessages
from handlers.events.signups import SignupService
from handlers.events.stats import EventStats

EVENT_SERVICE = web.AppKey("event_service", EventService)
SIGNUP_SERVICE = web.AppKey("signup_service", SignupService)
EVENT_MESSAGES = web.AppKey("event_messages", EventMessages)
EVENT_STATS = web.AppKey("event_stats", EventStats)
