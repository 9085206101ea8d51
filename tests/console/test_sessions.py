"""The console's frame over HTTP (a browser without JavaScript): HTML routes as a kind of
their own, the cookie session, CSRF, error pages, headers."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from config.settings import Settings
from handlers.auth.keys import AUTH_SERVICE
from server.api import ApiRoutes, route_meta
from server.app import create_app
from server.authorisation import Access
from server.clock import SettableClock
from server.openapi import build_openapi
from server.principal import Role
from tests.fixtures.app import Client, make_settings
from tests.fixtures.console import ConsoleBrowser
from tests.fixtures.errors import assert_error
from tests.fixtures.sessions import sign_in_password


async def staff_account(client: Client, *roles: Role) -> tuple[str, str]:
    username = f"staff{uuid.uuid4().hex[:6]}"
    password = f"pw-{uuid.uuid4().int % 10**16:016d}"
    await client.app[AUTH_SERVICE].create_staff_user(username, password, list(roles))
    return username, password


async def signed_in(client: Client, *roles: Role) -> ConsoleBrowser:
    browser = ConsoleBrowser(client)
    await browser.sign_in(*await staff_account(client, *roles))
    return browser


# -- the kind -----------------------------------------------------------------------------


def test_pages_are_html_routes_under_admin_and_out_of_the_document() -> None:
    app = create_app(make_settings("http://127.0.0.1:9"))
    pages = [
        route.resource.canonical
        for route in app.router.routes()
        if (meta := route_meta(route.handler)) and meta.html and route.resource
    ]
    assert "/admin/login" in pages and "/admin/stories/{story_id}/review" in pages
    assert all(path == "/admin" or path.startswith("/admin/") for path in pages)
    document = build_openapi(app, "t", "0")
    assert not [path for path in document["paths"] if path.startswith("/admin")]
    assert "/api/v1/admin/stories" in document["paths"]  # the JSON API's staff routes stay


def test_a_page_table_holds_pages_only() -> None:
    async def page(request: object) -> None: ...

    with pytest.raises(ValueError, match="live under /admin/"):
        ApiRoutes(prefix="", tag="x").get("/admin/x", "a page", access=Access.public())
    with pytest.raises(ValueError, match="live under /admin/"):
        ApiRoutes(prefix="/api/v1", html=True).get("/x", "JSON", access=Access.public())
    with pytest.raises(TypeError, match="the table's"):
        ApiRoutes(prefix="/admin", html=True).get("/x", "x", access=Access.public(), html=False)


# -- signing in ---------------------------------------------------------------------------


async def test_signed_out_pages_lead_to_the_sign_in_page_and_back(client: Client) -> None:
    browser = ConsoleBrowser(client)
    answer = await browser.get("/admin/stories?status=draft")
    assert answer.status == 303
    assert answer.location == "/admin/login?next=/admin/stories%3Fstatus%3Ddraft"
    username, password = await staff_account(client, Role.editor)
    signed = await browser.submit(
        answer.location,
        "/admin/login",
        {"username": username, "password": password, "next": "/admin/stories?status=draft"},
    )
    assert (signed.status, signed.location) == (303, "/admin/stories?status=draft")
    page = await browser.get("/admin/stories?status=draft")
    assert page.status == 200 and "稿件" in page.text and username in page.text


async def test_the_session_cookie_is_httponly_strict_and_secure_outside_development(
    client: Client,
) -> None:
    browser = ConsoleBrowser(client)
    answer = await browser.sign_in(*await staff_account(client, Role.editor))
    cookie = answer.cookies["jx_console"]
    assert cookie["httponly"] and cookie["secure"]
    assert cookie["samesite"] == "Strict" and cookie["path"] == "/admin"
    assert "jx_console_form" not in browser.cookies  # the sign-in form's binding is gone


async def test_a_wrong_password_shows_the_form_again_with_an_error(client: Client) -> None:
    username, _ = await staff_account(client, Role.editor)
    browser = ConsoleBrowser(client)
    answer = await browser.submit(
        "/admin/login", "/admin/login", {"username": username, "password": "not-it-1234567"}
    )
    assert answer.status == 401
    assert "用户名或密码错误" in answer.text and f'value="{username}"' in answer.text
    assert "jx_console" not in browser.cookies


async def test_sign_in_uses_the_apis_login_throttle(client: Client, settings: Settings) -> None:
    username, password = await staff_account(client, Role.editor)
    browser = ConsoleBrowser(client)
    for _ in range(settings.login_failures_max):
        wrong = await browser.submit(
            "/admin/login", "/admin/login", {"username": username, "password": "x" * 14}
        )
        assert wrong.status == 401
    refused = await browser.submit(
        "/admin/login", "/admin/login", {"username": username, "password": password}
    )
    assert refused.status == 429 and "登录失败次数过多" in refused.text
    assert refused.headers["Retry-After"]
    # The API's sign-in counts the same budget (one throttle): refused there too.
    resp = await client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )
    assert resp.status == 429


async def test_a_form_without_its_csrf_token_is_refused(client: Client) -> None:
    username, password = await staff_account(client, Role.editor)
    browser = ConsoleBrowser(client)
    await browser.get("/admin/login")  # the form cookie, but no token sent
    answer = await browser.post("/admin/login", {"username": username, "password": password})
    assert answer.status == 403 and answer.error_code == "csrf_invalid"
    assert answer.headers["Content-Type"].startswith("text/html")
    forged = await browser.post(
        "/admin/login", {"username": username, "password": password}, csrf="forged"
    )
    assert forged.status == 403 and "jx_console" not in browser.cookies
    # Signed in, a token of the sign-in form (or of another session) does not do either.
    other = await signed_in(client, Role.editor)
    token = (await other.get("/admin/")).csrf_token
    await browser.sign_in(username, password)
    answer = await browser.post("/admin/logout", {}, csrf=token)
    assert answer.status == 403 and answer.error_code == "csrf_invalid"
    assert (await browser.get("/admin/")).status == 200  # still signed in


async def test_scripts_send_the_token_as_a_header(client: Client) -> None:
    browser = await signed_in(client, Role.editor)
    token = (await browser.get("/admin/")).csrf_token
    answer = await browser.request(
        "POST",
        "/admin/stories/preview",
        data={"body_markdown": "**劳模**<script>alert(1)</script>"},
        headers={"X-CSRF-Token": token},
    )
    assert answer.status == 200
    assert "<strong>劳模</strong>" in answer.text and "<script>" not in answer.text


async def test_logout_ends_the_session_at_once(client: Client) -> None:
    browser = await signed_in(client, Role.editor)
    stolen = dict(browser.cookies)
    answer = await browser.submit("/admin/", "/admin/logout", {})
    assert (answer.status, answer.location) == (303, "/admin/login")
    assert "jx_console" not in browser.cookies
    replay = ConsoleBrowser(client, stolen)  # the cookie as it was before logging out
    assert (await replay.get("/admin/")).status == 303


async def test_the_session_ends_after_the_idle_timeout(
    client: Client, clock: SettableClock, settings: Settings
) -> None:
    browser = await signed_in(client, Role.editor)
    idle = timedelta(seconds=settings.console_idle_timeout_s)
    for _ in range(3):  # each page moves the timeout on
        clock.advance(idle - timedelta(seconds=5))
        assert (await browser.get("/admin/")).status == 200
    clock.advance(idle + timedelta(seconds=1))
    answer = await browser.get("/admin/")
    assert answer.status == 303 and (answer.location or "").startswith("/admin/login")
    assert "jx_console" not in browser.cookies


async def test_the_session_ends_at_its_maximum_age(
    client: Client, clock: SettableClock, settings: Settings
) -> None:
    browser = await signed_in(client, Role.editor)
    step = timedelta(seconds=settings.console_idle_timeout_s - 60)
    elapsed = timedelta()
    while elapsed + step < timedelta(seconds=settings.console_session_max_s):
        clock.advance(step)
        elapsed += step
        assert (await browser.get("/admin/")).status == 200
    clock.advance(step)
    assert (await browser.get("/admin/")).status == 303


async def test_a_password_reset_ends_console_sessions_and_roles_are_read_again(
    client: Client, clock: SettableClock, settings: Settings
) -> None:
    username, password = await staff_account(client, Role.editor, Role.reviewer)
    browser = ConsoleBrowser(client)
    await browser.sign_in(username, password)
    assert (await browser.get("/admin/review")).status == 200
    auth = client.app[AUTH_SERVICE]
    user = await auth.get_staff_user(username)
    # A role taken away without a reset reaches the console once the session is read
    # again from MongoDB (within ACCESS_TOKEN_TTL_S, as it reaches access tokens).
    await auth.users.set_password_and_roles(user.id, user.password_hash or "", [Role.editor])
    clock.advance(timedelta(seconds=settings.access_token_ttl_s))
    answer = await browser.get("/admin/review")
    assert answer.status == 403 and answer.error_code == "forbidden"
    assert "审核" not in answer.text.split("<main")[0]  # gone from the navigation too
    await auth.create_staff_user(username, password + "x", [Role.editor], update=True)
    assert (await browser.get("/admin/")).status == 303


async def test_an_api_token_opens_no_page_and_a_cookie_no_api(client: Client) -> None:
    username, password = await staff_account(client, Role.editor)
    session = await sign_in_password(client, username, password)
    browser = ConsoleBrowser(client)
    answer = await browser.request("GET", "/admin/", headers=session.headers)
    assert answer.status == 303  # pages know no bearer tokens
    await browser.sign_in(username, password)
    resp = await browser.request("GET", "/api/v1/me")
    assert resp.status == 401  # and the API no cookies


# -- pages' answers -----------------------------------------------------------------------


async def test_errors_are_pages_with_the_consoles_headers(client: Client) -> None:
    browser = await signed_in(client, Role.editor)
    missing = await browser.get("/admin/no-such-page")
    assert missing.status == 404 and missing.error_code == "not_found"
    assert "页面不存在" in missing.text and 'href="/admin/stories"' in missing.text  # the nav
    assert missing.headers["Content-Type"].startswith("text/html")
    not_mine = await browser.get("/admin/review")
    assert not_mine.status == 403 and not_mine.error_code == "forbidden"
    bad = await browser.get("/admin/stories?status=nonsense")
    assert bad.status == 422 and bad.error_code == "invalid_request"
    no_story = await browser.get(f"/admin/stories/{'0' * 24}/edit")
    assert no_story.status == 404
    page = await browser.get("/admin/")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert "form-action 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["X-Request-ID"]
    assert "<script>" not in page.text and " style=" not in page.text  # nothing inline


async def test_the_json_api_is_as_it_was(client: Client) -> None:
    resp = await client.get("/api/v1/no-such-thing")
    assert resp.status == 404
    assert_error(await resp.json(), "not_found")
    assert resp.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    resp = await client.get("/api/v1/admin/stories")
    assert resp.status == 401
    assert_error(await resp.json(), "unauthorized")


async def test_static_files_are_cached_by_their_content_hash(client: Client) -> None:
    browser = ConsoleBrowser(client)
    page = await browser.get("/admin/login")
    href = page.text.split('rel="stylesheet" href="')[1].split('"')[0]
    assert href.startswith("/static/console/console.css?v=")
    resp = await client.get(href)
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/css")
    assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "Set-Cookie" not in resp.headers
    again = await client.get(href, headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status == 304
    stale = await client.get("/static/console/console.css?v=old")
    assert stale.headers["Cache-Control"] == "public, max-age=300"
    assert (await client.get("/static/console/nothing.css")).status == 404
