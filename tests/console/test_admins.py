"""Admins' pages over HTTP (a browser without JavaScript): staff accounts (create, roles,
a new password, disable and enable, no self lock-out), schools and their teachers, and
the audit log with its filters; and what anyone else gets (the 403 page)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from urllib.parse import quote

from handlers.auth.keys import AUTH_SERVICE
from server.clock import SettableClock
from server.principal import Role
from tests.console.test_sessions import signed_in, staff_account
from tests.fixtures.app import Client
from tests.fixtures.console import Answer, ConsoleBrowser
from tests.fixtures.sessions import sign_in_password

GOOD_PASSWORD = "湘江边的老钳工-2026"


async def admin_browser(client: Client) -> tuple[ConsoleBrowser, str]:
    """A signed-in admin's console, and the admin's account id."""
    username, password = await staff_account(client, Role.admin)
    browser = ConsoleBrowser(client)
    await browser.sign_in(username, password)
    return browser, (await client.app[AUTH_SERVICE].get_staff_user(username)).id


async def create(admin: ConsoleBrowser, username: str, *roles: str, **fields: str) -> Answer:
    data = {
        "username": username,
        "name": fields.pop("name", "赵师傅"),
        "roles": list(roles),
        "password": GOOD_PASSWORD,
        "password_confirm": GOOD_PASSWORD,
        **fields,
    }
    page = await admin.get("/admin/accounts/new")
    return await admin.request(
        "POST", "/admin/accounts/new", data=[*_pairs(data), ("csrf_token", page.csrf_token)]
    )


def _pairs(data: Mapping[str, object]) -> list[tuple[str, str]]:
    """A form's fields, a list as repeated fields (checkboxes)."""
    pairs: list[tuple[str, str]] = []
    for key, value in data.items():
        values = value if isinstance(value, list) else [value]
        pairs += [(key, str(item)) for item in values]
    return pairs


async def send(browser: ConsoleBrowser, page: str, action: str, data: dict[str, object]) -> Answer:
    """Open ``page``, then send its form to ``action`` (lists as repeated fields)."""
    opened = await browser.get(page)
    assert opened.status == 200, (opened.status, opened.text[:300])
    return await browser.request(
        "POST", action, data=[*_pairs(data), ("csrf_token", opened.csrf_token)]
    )


def account_id(answer: Answer) -> str:
    found = re.fullmatch(r"/admin/accounts/([0-9a-f]{24})\?done=created", answer.location or "")
    assert found, (answer.status, answer.location, answer.text[:500])
    return found.group(1)


def nav(text: str) -> list[str]:
    return re.findall(r'<li><a href="([^"]+)"', text.split("</nav>")[0])


def actions(log: Answer) -> list[str]:
    """The audit log's rows as their actions, newest first."""
    assert log.status == 200, log.text[:500]
    return re.findall(r'<td data-label="操作">([^<]+)</td>', log.text)


# -- who may -------------------------------------------------------------------------------


async def test_admins_pages_are_admins_and_in_their_navigation_only(client: Client) -> None:
    admin, _ = await admin_browser(client)
    editor = await signed_in(client, Role.editor, Role.reviewer, Role.organizer, Role.teacher)
    links = nav((await admin.get("/admin/")).text)
    assert {"/admin/accounts", "/admin/schools", "/admin/audit"} <= set(links)
    assert not {"/admin/accounts", "/admin/schools", "/admin/audit"} & set(
        nav((await editor.get("/admin/")).text)
    )
    for page in ("/admin/accounts", "/admin/accounts/new", "/admin/schools", "/admin/audit"):
        refused = await editor.get(page)
        assert (refused.status, refused.error_code) == (403, "forbidden"), page
        assert "没有权限" in refused.text
    token = (await editor.get("/admin/")).csrf_token
    forced = await editor.post(
        "/admin/accounts/new",
        {"username": "sneaky", "name": "x", "roles": "admin", "password": GOOD_PASSWORD,
         "password_confirm": GOOD_PASSWORD},
        csrf=token,
    )  # fmt: skip
    assert (forced.status, forced.error_code) == (403, "forbidden")
    assert await client.app[AUTH_SERVICE].users.find_by_username("sneaky") is None
    signed_out = await ConsoleBrowser(client).get("/admin/audit")
    assert signed_out.status == 303 and (signed_out.location or "").startswith("/admin/login")


# -- accounts ------------------------------------------------------------------------------


async def test_an_admin_creates_an_account_that_signs_in(client: Client) -> None:
    admin, _ = await admin_browser(client)
    created = await create(admin, "editor-zhao", "editor", "reviewer", name=" 赵师傅 ")
    user_id = account_id(created)
    page = await admin.get(created.location or "")
    assert "账号已创建。" in page.text and "<h1>赵师傅 <span" in page.text
    listed = await admin.get("/admin/accounts")
    row = re.search(r"<tr>.*?editor-zhao.*?</tr>", listed.text, re.S)
    assert row and "编辑" in row.group(0) and "审核员" in row.group(0) and "正常" in row.group(0)
    assert f'href="/admin/accounts/{user_id}"' in row.group(0)
    editor = ConsoleBrowser(client)
    await editor.sign_in("editor-zhao", GOOD_PASSWORD)
    assert "/admin/review" in nav((await editor.get("/admin/")).text)
    # Its last sign-in is on the list now.
    listed = await admin.get("/admin/accounts")
    row = re.search(r"<tr>.*?editor-zhao.*?</tr>", listed.text, re.S)
    assert row and re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", row.group(0))


async def test_a_new_account_with_bad_fields_is_shown_again_with_the_reasons(
    client: Client,
) -> None:
    admin, _ = await admin_browser(client)
    taken, _ = await staff_account(client, Role.editor)
    cases = {
        "用户名：已被使用，请换一个": {"username": taken},
        "密码：太常见，是攻击者最先尝试的密码之一": {"password": "Password1234",
                                               "password_confirm": "Password1234"},
        "密码：至少 12 个字符": {"password": "short-pw", "password_confirm": "short-pw"},
        "密码：不能包含用户名": {"password": "new-editor-2026!", "password_confirm":
                                 "new-editor-2026!"},
        "密码：首尾不能有空格": {"password": " " + GOOD_PASSWORD, "password_confirm":
                                 " " + GOOD_PASSWORD},
        "确认密码：两次输入的密码不一致": {"password_confirm": GOOD_PASSWORD + "x"},
        "用户名：只能包含字母、数字和 _ . @ -": {"username": "王老师"},
        "姓名：必填": {"name": "   "},
    }  # fmt: skip
    for message, fields in cases.items():
        username = fields.pop("username", "new-editor")
        answer = await create(admin, username, "editor", **fields)
        assert answer.status == 422, (message, answer.status, answer.location)
        assert message in answer.text, (message, answer.text[:3000])
        assert 'aria-invalid="true"' in answer.text
        if username != taken:
            assert f'value="{username}"' in answer.text  # the fields are kept
    no_role = await create(admin, "new-editor")
    assert no_role.status == 422 and "身份：至少选择一项" in no_role.text
    forged_role = await create(admin, "new-editor", "resident")
    assert forged_role.status == 422 and "身份：不是可选的值" in forged_role.text
    assert await client.app[AUTH_SERVICE].users.find_by_username("new-editor") is None
    huge = await create(admin, "x" * 100_000, "editor")
    assert huge.status == 422 and "用户名：最多 64 个字符" in huge.text


async def test_roles_change_and_a_role_taken_away_ends_the_sessions(client: Client) -> None:
    admin, _ = await admin_browser(client)
    user_id = account_id(await create(admin, "teacher-sun", "teacher"))
    teacher = ConsoleBrowser(client)
    await teacher.sign_in("teacher-sun", GOOD_PASSWORD)
    page = f"/admin/accounts/{user_id}"
    given = await send(admin, page, page + "/roles", {"roles": ["teacher", "editor"]})
    assert (given.status, given.location) == (303, page + "?done=roles")
    assert (await teacher.get("/admin/")).status == 200  # given: the session goes on
    taken = await send(admin, page, page + "/roles", {"roles": ["editor"]})
    assert taken.status == 303
    shown = await admin.get(taken.location or "")
    assert "身份已修改。" in shown.text
    assert re.search(r"<dt>身份</dt><dd>编辑</dd>", shown.text)
    gone = await teacher.get("/admin/")
    assert gone.status == 303 and (gone.location or "").startswith("/admin/login")
    none = await send(admin, page, page + "/roles", {})
    assert none.status == 422 and "身份：至少选择一项" in none.text


async def test_an_admin_cannot_lock_themself_out(client: Client) -> None:
    admin, my_id = await admin_browser(client)
    page = f"/admin/accounts/{my_id}"
    mine = await admin.get(page)
    assert "这是您自己的账号" in mine.text and "/disable" not in mine.text
    refused = await send(admin, page, page + "/roles", {"roles": ["editor"]})
    assert refused.status == 422 and "不能取消您自己的管理员身份" in refused.text
    forced = await send(admin, page, page + "/disable", {})
    assert forced.status == 422 and "不能停用您自己的账号" in forced.text
    still = await admin.get("/admin/accounts")
    assert still.status == 200  # still an admin, still signed in
    user = await client.app[AUTH_SERVICE].get_user(my_id)
    assert Role.admin in user.roles and user.disabled_at is None


async def test_a_new_password_ends_every_session_of_the_account(client: Client) -> None:
    admin, _ = await admin_browser(client)
    user_id = account_id(await create(admin, "organizer-li", "organizer"))
    console = ConsoleBrowser(client)
    await console.sign_in("organizer-li", GOOD_PASSWORD)
    api = await sign_in_password(client, "organizer-li", GOOD_PASSWORD)
    page = f"/admin/accounts/{user_id}"
    common = "12345678901234"
    weak = await send(
        admin, page, page + "/password", {"password": common, "password_confirm": common}
    )
    assert weak.status == 422 and "密码：太常见" in weak.text
    assert (await console.get("/admin/")).status == 200  # nothing changed
    new = "株洲的春天总是来得早一些-新"
    reset = await send(admin, page, page + "/password",
                       {"password": new, "password_confirm": new})  # fmt: skip
    assert (reset.status, reset.location) == (303, page + "?done=password")
    assert (await console.get("/admin/")).status == 303
    assert (await client.get("/api/v1/me", headers=api.headers)).status == 401
    again = ConsoleBrowser(client)
    await again.sign_in("organizer-li", new)


async def test_a_disabled_account_signs_in_nowhere_until_enabled(client: Client) -> None:
    admin, _ = await admin_browser(client)
    user_id = account_id(await create(admin, "editor-qian", "editor"))
    console = ConsoleBrowser(client)
    await console.sign_in("editor-qian", GOOD_PASSWORD)
    api = await sign_in_password(client, "editor-qian", GOOD_PASSWORD)
    page = f"/admin/accounts/{user_id}"
    disabled = await send(admin, page, page + "/disable", {})
    assert (disabled.status, disabled.location) == (303, page + "?done=disabled")
    shown = await admin.get(disabled.location or "")
    assert "账号已停用，它的所有登录都已结束。" in shown.text and "/enable" in shown.text
    assert "已停用" in (await admin.get("/admin/accounts")).text

    next_page = await console.get("/admin/stories")
    assert next_page.status == 303
    assert next_page.location == "/admin/login?next=/admin/stories"
    assert (await client.get("/api/v1/me", headers=api.headers)).status == 401
    login = await send(ConsoleBrowser(client), "/admin/login", "/admin/login",
                       {"username": "editor-qian", "password": GOOD_PASSWORD})  # fmt: skip
    assert login.status == 403 and "账号已停用，请联系管理员" in login.text
    api_login = await client.post(
        "/api/v1/auth/login", json={"username": "editor-qian", "password": GOOD_PASSWORD}
    )
    assert api_login.status == 403

    enabled = await send(admin, page, page + "/enable", {})
    assert (
        enabled.status == 303 and "账号已启用。" in (await admin.get(enabled.location or "")).text
    )
    await ConsoleBrowser(client).sign_in("editor-qian", GOOD_PASSWORD)


async def test_an_account_page_is_for_staff_accounts(client: Client) -> None:
    admin, _ = await admin_browser(client)
    resident = await client.post("/api/v1/auth/wechat", json={"code": "dev:a-resident"})
    resident_id = (await resident.json())["user"]["id"]
    for path in (f"/admin/accounts/{resident_id}", "/admin/accounts/" + "0" * 24):
        answer = await admin.get(path)
        assert (answer.status, answer.error_code) == (404, "not_found"), path
    refused = await send(admin, "/admin/accounts", f"/admin/accounts/{resident_id}/disable", {})
    assert refused.status == 404


# -- schools and teachers --------------------------------------------------------------------


async def test_schools_and_their_teachers(client: Client) -> None:
    admin, _ = await admin_browser(client)
    empty = await send(
        admin, "/admin/schools", "/admin/schools", {"name": "", "district": "荷塘区"}
    )
    assert empty.status == 422 and "学校名称：必填" in empty.text and 'value="荷塘区"' in empty.text
    created = await send(admin, "/admin/schools", "/admin/schools",
                         {"name": "株洲市实验小学", "district": "荷塘区"})  # fmt: skip
    found = re.fullmatch(r"/admin/schools/([0-9a-f]{24})\?done=school", created.location or "")
    assert created.status == 303 and found
    school = f"/admin/schools/{found.group(1)}"
    assert "学校已创建。" in (await admin.get(created.location or "")).text

    teacher_id = account_id(await create(admin, "teacher-zhou", "teacher", name="周老师"))
    editor_name, _ = await staff_account(client, Role.editor)
    unknown = await send(admin, school, school + "/teachers", {"username": "nobody-here"})
    assert unknown.status == 422 and "没有这个用户名的账号" in unknown.text
    not_teacher = await send(admin, school, school + "/teachers", {"username": editor_name})
    assert not_teacher.status == 422 and "该账号不是教师账号" in not_teacher.text
    attached = await send(admin, school, school + "/teachers", {"username": "teacher-zhou"})
    assert (attached.status, attached.location) == (303, school + "?done=attached")
    page = await admin.get(attached.location or "")
    assert "教师已加入本校。" in page.text and "周老师" in page.text
    listed = await admin.get("/admin/schools")
    row = re.search(r"<tr>.*?株洲市实验小学.*?</tr>", listed.text, re.S)
    assert row and "周老师" in row.group(0)
    teacher = await sign_in_password(client, "teacher-zhou", GOOD_PASSWORD)
    me = await (await client.get("/api/v1/me", headers=teacher.headers)).json()
    assert me["school_id"] == found.group(1)

    detached = await send(admin, school, school + "/detach", {"user_id": teacher_id})
    assert (detached.status, detached.location) == (303, school + "?done=detached")
    page = await admin.get(detached.location or "")
    assert "本校还没有教师。" in page.text
    again = await send(admin, school, school + "/detach", {"user_id": teacher_id})
    assert again.status == 422 and "不是本校的教师" in again.text
    me = await (await client.get("/api/v1/me", headers=teacher.headers)).json()
    assert me["school_id"] is None


# -- the audit log -------------------------------------------------------------------------


async def test_the_audit_log_names_people_and_filters(client: Client, clock: SettableClock) -> None:
    admin_name, admin_password = await staff_account(client, Role.admin)
    admin_id = (await client.app[AUTH_SERVICE].get_staff_user(admin_name)).id
    admin = ConsoleBrowser(client)
    await admin.sign_in(admin_name, admin_password)
    yesterday = clock.local_now().date()
    zhao = account_id(await create(admin, "editor-zhao", "editor", name="赵师傅"))
    clock.advance(timedelta(days=1))  # the sessions are over: sign in again
    today = clock.local_now().date()
    await admin.sign_in(admin_name, admin_password)
    other_admin, _ = await admin_browser(client)
    page = f"/admin/accounts/{zhao}"
    await send(admin, page, page + "/roles", {"roles": ["editor", "reviewer"]})
    await send(other_admin, page, page + "/disable", {})

    log = await admin.get("/admin/audit")
    assert actions(log)[:3] == ["停用账号", "修改身份", "新建员工账号"]
    rows = re.findall(r"<tr>.*?</tr>", log.text.split("<tbody>")[1], re.S)
    assert "赵师傅" in rows[0] and "身份：编辑 → 编辑、审核员" in rows[1]
    assert "身份：编辑<" in rows[2]

    by_actor = await admin.get(f"/admin/audit?actor={admin_name}")
    assert actions(by_actor) == ["修改身份", "新建员工账号"]
    assert f'value="{admin_name}"' in by_actor.text  # the filter stays in its field
    by_id = await admin.get(f"/admin/audit?actor={admin_id}&action=staff_account_created")
    assert actions(by_id) == ["新建员工账号"]
    about = await admin.get("/admin/audit?subject=editor-zhao&actor=&action=")
    assert actions(about) == ["停用账号", "修改身份", "新建员工账号"]
    on_the_day = f"from_date={yesterday}&to_date={yesterday}"
    assert actions(await admin.get(f"/admin/audit?subject={zhao}&{on_the_day}")) == ["新建员工账号"]
    since = await admin.get(f"/admin/audit?subject={zhao}&from_date={today}")
    assert actions(since) == ["停用账号", "修改身份"]

    paged = await admin.get("/admin/audit?subject=editor-zhao&limit=2")
    assert actions(paged) == ["停用账号", "修改身份"]
    more = re.search(r'href="(/admin/audit\?[^"]+)">下一页', paged.text)
    assert more and "subject=editor-zhao" in more.group(1)
    assert actions(await admin.get(more.group(1).replace("&amp;", "&"))) == ["新建员工账号"]

    backwards = await admin.get(f"/admin/audit?from_date={today}&to_date={yesterday}")
    assert backwards.status == 422 and "开始日期晚于结束日期" in backwards.text
    unknown = await admin.get("/admin/audit?actor=nobody-here")
    assert unknown.status == 422 and "操作人：没有这个用户名的账号" in unknown.text
    bad_date = await admin.get("/admin/audit?from_date=2026-13-01")
    assert bad_date.status == 422 and "开始日期：" in bad_date.text
    bad_cursor = await admin.get("/admin/audit?cursor=" + quote("not-a-cursor"))
    assert (bad_cursor.status, bad_cursor.error_code) == (422, "invalid_cursor")
    twice = await admin.get("/admin/audit?action=a&action=b")
    assert twice.status == 422
