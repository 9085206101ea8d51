"""The stories room's typed keys."""

from __future__ import annotations

from aiohttp import web

from handlers.stories.comments import CommentService
from handlers.stories.service import PeopleService, StoryService

PEOPLE_SERVICE = web.AppKey("people_service", PeopleService)
STORY_SERVICE = web.AppKey("story_service", StoryService)
COMMENT_SERVICE = web.AppKey("comment_service", CommentService)
