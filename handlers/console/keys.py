"""The console room's typed keys."""

from __future__ import annotations

from aiohttp import web

from handlers.console.pages import Pages
from handlers.console.sessions import ConsoleSessions

CONSOLE_SESSIONS = web.AppKey("console_sessions", ConsoleSessions)
CONSOLE_PAGES = web.AppKey("console_pages", Pages)
