"""The staff console: HTML pages under ``/admin/`` for editors and reviewers (teachers,
organizers and admins next), served by the same app (``server/html.py``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from handlers.auth.keys import AUTH_SERVICE
from handlers.console import admins, comments, dashboard, organizers, people, stories, teachers
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
    NavItem("数据看板", dashboard.DASHBOARD, dashboard.dashboard),
    NavItem("稿件", stories.STORIES, stories.story_list),
    NavItem("写稿", stories.STORIES + "/new", stories.new_story_page),
    NavItem("审核", stories.REVIEW, stories.review_queue),
    NavItem("人物", people.PEOPLE, people.people_list),
    NavItem("评论审核", comments.QUEUE, comments.comment_queue),
    NavItem("班级", teachers.CLASSES, teachers.class_list),
    NavItem("任务", teachers.TASKS, teachers.task_list),
    NavItem("打卡审核", teachers.CHECKINS, teachers.review_queue),
    NavItem("活动", organizers.EVENTS, organizers.event_list),
    NavItem("账号", admins.ACCOUNTS, admins.account_list),
    NavItem("学校", admins.SCHOOLS, admins.school_list),
    NavItem("审计日志", admins.AUDIT_LOG, admins.audit_log),
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
    routes=(
        routes,
        stories.routes,
        people.routes,
        comments.routes,
        teachers.routes,
        organizers.routes,
        admins.routes,
        dashboard.routes,
        assets,
    ),
    setup=setup,
    errors=(CsrfInvalid,),
)
