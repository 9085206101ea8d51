"""The console's frame: sign-in, sign-out, the home page and the static files."""

from __future__ import annotations

from aiohttp import web

from handlers.auth.service import AccountDisabled, InvalidCredentials
from handlers.console.keys import CONSOLE_PAGES, CONSOLE_SESSIONS
from handlers.console.pages import HOME, LOGIN, STATIC_PREFIX, safe_next, see_other
from server.api import CONSOLE_PREFIX, ApiRoutes
from server.authorisation import Access
from server.errors import RateLimited

routes = ApiRoutes(prefix=CONSOLE_PREFIX, tag="console", html=True)
# Not pages: the CSS and scripts, outside the session cookie's path.
assets = ApiRoutes(prefix=STATIC_PREFIX, tag="console")

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "public, max-age=300"


@routes.get("", "The console (to its home page)", access=Access.public(), status=303)
async def console_root(request: web.Request) -> web.Response:
    return see_other(HOME)


@routes.get("/", "The console's home: what the signed-in staff member may do",
            access=Access.signed_in())  # fmt: skip
async def home(request: web.Request) -> web.Response:
    return request.app[CONSOLE_PAGES].render(request, "home.html")


def _login_page(
    request: web.Request, next_page: str, *, username: str = "", error: str = "", status: int = 200
) -> web.Response:
    context = {"next": next_page, "username": username, "error": error}
    return request.app[CONSOLE_PAGES].render(request, "login.html", context, status=status)


@routes.get("/login", "The sign-in page", access=Access.public())
async def login_page(request: web.Request) -> web.Response:
    # Shown signed in too (to change accounts): the layout says who is in.
    return _login_page(request, safe_next(request.query.get("next")))


@routes.post(
    "/login",
    "Sign in with a staff account (the API's sign-in throttle); on to the page asked for",
    access=Access.public(),
    status=303,
    errors=("invalid_credentials", "account_disabled", "rate_limited", "csrf_invalid"),
)
async def login(request: web.Request) -> web.Response:
    form = await request.post()
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    next_page = safe_next(form.get("next"))
    if not username or not password:
        return _login_page(
            request, next_page, username=username, error="请输入用户名和密码", status=422
        )
    try:
        await request.app[CONSOLE_SESSIONS].sign_in(request, username, password)
    except (InvalidCredentials, AccountDisabled) as exc:
        return _login_page(
            request, next_page, username=username, error=exc.message, status=exc.status
        )
    except RateLimited as exc:
        minutes = max(1, -(-int(exc.headers["Retry-After"]) // 60))
        page = _login_page(
            request,
            next_page,
            username=username,
            error=f"登录失败次数过多，请 {minutes} 分钟后再试",
            status=429,
        )
        page.headers["Retry-After"] = exc.headers["Retry-After"]
        return page
    return see_other(next_page)


@routes.post("/logout", "Sign out: the session ends at once", access=Access.signed_in(),
             status=303, errors=("csrf_invalid", "unavailable"))  # fmt: skip
async def logout(request: web.Request) -> web.Response:
    await request.app[CONSOLE_SESSIONS].sign_out(request)
    return see_other(LOGIN)


@assets.get(
    "/{name}",
    "The console's own CSS and scripts (a year in caches under their content hash)",
    access=Access.public(),
    rate_limited=False,
    content_type="application/octet-stream",
)
async def static_file(request: web.Request) -> web.FileResponse:
    static = request.app[CONSOLE_PAGES].static
    name = request.match_info["name"]
    path = static.files.get(name)
    if path is None:
        raise web.HTTPNotFound()
    response = web.FileResponse(path)
    current = request.query.get("v") == static.versions[name]
    response.headers["Cache-Control"] = IMMUTABLE if current else REVALIDATE
    return response
