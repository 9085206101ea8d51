"""Pages: the templates (Jinja2 through aiohttp-jinja2), the layout's navigation by
role, the static files, and errors as pages in the same look.

The navigation lists the pages the signed-in staff member may open, decided by the
pages' own ``access=`` declarations (nothing is said twice). Every asset is written
here (``static/``): no CDN, no copied third-party files; URLs carry a hash of the
file's content, so browsers keep them for a year and a change is fetched at once.
"""

from __future__ import annotations

import hashlib
import html
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp_jinja2
import jinja2
from aiohttp import web

from handlers.console.sessions import ConsoleSession, ConsoleSessions
from server.api import CONSOLE_PREFIX, route_meta
from server.keys import REQUEST_ID
from server.principal import Role

log = logging.getLogger("jiangxin.console")

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
STATIC_PREFIX = "/static/console"
HOME = CONSOLE_PREFIX + "/"
LOGIN = CONSOLE_PREFIX + "/login"

ROLE_NAMES = {
    Role.resident: "居民",
    Role.student: "学生",
    Role.teacher: "教师",
    Role.editor: "编辑",
    Role.reviewer: "审核员",
    Role.organizer: "活动组织者",
    Role.admin: "管理员",
}

_TITLES = {
    400: "请求有误",
    403: "没有权限",
    404: "页面不存在",
    405: "不支持的操作",
    409: "操作冲突",
    413: "内容过大",
    415: "不支持的内容",
    422: "填写有误",
    429: "操作太频繁",
    500: "服务器出错了",
    503: "服务暂时不可用",
}

_BACK = web.RequestKey("console_back", str)


def role_names(roles: frozenset[Role]) -> list[str]:
    """The roles in Chinese, in ``Role`` order; "resident" (everyone's) only when alone."""
    held: list[Role] = [role for role in Role if role in roles]
    staff = [role for role in held if role is not Role.resident]
    return [ROLE_NAMES[role] for role in staff or held]


@dataclass(frozen=True, slots=True)
class NavItem:
    """An entry of the navigation: shown to whoever the page's ``access=`` lets in."""

    label: str
    path: str
    handler: Callable[..., Any]

    def admits(self, roles: frozenset[Role]) -> bool:
        meta = route_meta(self.handler)
        return meta is not None and meta.access.admits(roles) is None


class StaticFiles:
    """Our own CSS and scripts, each with the hash of its content."""

    def __init__(self, directory: Path) -> None:
        self.files = {path.name: path for path in sorted(directory.iterdir()) if path.is_file()}
        self.versions = {
            name: hashlib.sha256(path.read_bytes()).hexdigest()[:12]
            for name, path in self.files.items()
        }

    def url(self, name: str) -> str:
        return f"{STATIC_PREFIX}/{name}?v={self.versions[name]}"


def see_other(location: str) -> web.Response:
    """303 to ``location``: where a form's answer goes (no resubmit on reload)."""
    return web.Response(status=303, headers={"Location": location})


def safe_next(value: object) -> str:
    """A page of the console to go on to after signing in; anything else is home."""
    if (
        isinstance(value, str)
        and value.startswith(HOME)
        and "//" not in value
        and "\\" not in value
        and value.isprintable()
    ):
        return value
    return HOME


def set_back(request: web.Request, path: str) -> None:
    """Where an error page of this request leads back to (the page the form was on)."""
    request[_BACK] = path


def setup_templates(app: web.Application) -> jinja2.Environment:
    return aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        default_helpers=False,
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


class Pages:
    def __init__(
        self, sessions: ConsoleSessions, nav: Sequence[NavItem], static: StaticFiles
    ) -> None:
        self.sessions = sessions
        self.nav = tuple(nav)
        self.static = static

    def _common(self, request: web.Request) -> dict[str, Any]:
        me: ConsoleSession | None = self.sessions.current(request)
        nav = [
            {"label": item.label, "path": item.path, "current": _is_current(request, item)}
            for item in self.nav
            if me is not None and item.admits(me.roles)
        ]
        return {
            "me": me,
            "my_roles": role_names(me.roles) if me else [],
            "nav": nav,
            "csrf_token": lambda: self.sessions.csrf_token(request),
            "static": self.static.url,
            "request_path": request.path,
        }

    def render(
        self,
        request: web.Request,
        template: str,
        context: dict[str, Any] | None = None,
        *,
        status: int = 200,
    ) -> web.Response:
        return aiohttp_jinja2.render_template(
            template, request, {**self._common(request), **(context or {})}, status=status
        )

    def error_page(
        self,
        request: web.Request,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any],
        headers: dict[str, str] | None,
    ) -> web.StreamResponse:
        if status == 401:
            # Signed out (or the session ended): to the sign-in page, then back here.
            target = LOGIN
            if request.method in ("GET", "HEAD") and request.path != LOGIN:
                target += "?next=" + quote(safe_next(request.path_qs), safe="/")
            return see_other(target)
        context = {
            "status": status,
            "code": code,
            "title": _TITLES.get(status, "出错了"),
            "message": message,
            "back": request.get(_BACK, HOME),
            "request_id": request.get(REQUEST_ID, ""),
        }
        try:
            response = self.render(request, "error.html", context, status=status)
        except Exception:  # the error page must answer, whatever broke
            log.exception("error page failed", extra={"request_id": context["request_id"]})
            title, text = html.escape(str(context["title"])), html.escape(message)
            body = f"<!doctype html><title>{title}</title><p>{text}"
            response = web.Response(status=status, text=body, content_type="text/html")
        for name, value in (headers or {}).items():
            response.headers[name] = value
        return response


def _is_current(request: web.Request, item: NavItem) -> bool:
    if item.path == HOME:
        return request.path == HOME
    return request.path == item.path or request.path.startswith(item.path + "/")
