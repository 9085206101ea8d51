"""The stories room's typed keys: its services and its response cache."""

from __future__ import annotations

from aiohttp import web

from handlers.stories.comments import CommentService
from handlers.stories.counters import LiveCounters
from handlers.stories.editorial import EditorialService
from handlers.stories.engagement import EngagementService
from handlers.stories.feed import FeedService
from handlers.stories.people import PeopleService
from server.cache import VersionedCache

PEOPLE_SERVICE = web.AppKey("people_service", PeopleService)
EDITORIAL_SERVICE = web.AppKey("editorial_service", EditorialService)
FEED_SERVICE = web.AppKey("feed_service", FeedService)
ENGAGEMENT_SERVICE = web.AppKey("engagement_service", EngagementService)
COMMENT_SERVICE = web.AppKey("comment_service", CommentService)
STORY_CACHE = web.AppKey("story_cache", VersionedCache)
"""Feed pages and story bodies as JSON (namespace ``stories``), built by the routes."""
STORY_COUNTERS = web.AppKey("story_counters", LiveCounters)
"""The live counters laid over the cached answers at answer time."""
