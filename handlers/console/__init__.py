"""The staff console: HTML pages under ``/admin/`` for editors and reviewers (teachers,
organizers and admins next), served by the same app (``server/html.py``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from handlers.auth.keys import AUTH_SERVICE
from handlers.console import organizers, stories
from handlers.console.keys import CONSOLE_PAGES, CONSOLE_SESSIONS
from handlers.console.pages import HOME, STATIC_DIR, NavItem, Pages, StaticFiles, setup_templates
from handlers.console.routes import assets, home, routes
from handlers.console.sessions import ConsoleSessions, CsrfInvalid
from handlers.console.side import Console
from server.keys import CLOCK, HTML_SIDE, SETTINGS, SIGNER
from server.room import Room

# The layout's navigation, in order; each entry is shown to whoever its page admits.
NAV = (
    NavItem("首页", HOME, home),
    NavItem("稿件", stories.STORIES, stories.story_list),
    NavItem("写稿", stories.STORIES + "/new", stories.new_story_page),
    NavItem("审核", stories.REVIEW, stories.review_queue),
    NavItem("活动", organizers.EVENTS, organizers.event_list),
)
STATIC = StaticFiles(STATIC_DIR)


@contextlib.asynccontextmanager
async def setup(app: web.Application) -> AsyncIterator[None]:
    setup_templates(app)
    sessions = ConsoleSessions(app[SETTINGS], app[AUTH_SERVICE], app[SIGNER], app[CLOCK])
    pages = Pages(sessions, NAV, STATIC)
    app[CONSOLE_SESSIONS] = sessions
    app[CONSOLE_PAGES] = pages
    app[HTML_SIDE] = Console(sessions, pages)
    yield


ROOM = Room(
    name="console",
    routes=(routes, stories.routes, organizers.routes, assets),
    setup=setup,
    errors=(CsrfInvalid,),
)
