"""``python -m server create-user``: staff password policy, and a password reset that
ends every session of the account; staff accounts as admins manage them (the roles,
disabling: the API honours it at once)."""

from __future__ import annotations

import asyncio

import pytest

from config.settings import Settings
from handlers.auth.keys import AUTH_SERVICE, STAFF_ACCOUNT_SERVICE
from handlers.auth.passwords import WeakPassword
from handlers.auth.repo import UsernameTaken
from handlers.auth.service import AccountDisabled
from handlers.auth.staff import SelfLockout
from server.clock import SettableClock
from server.keys import AUDIT
from server.paging import PageQuery
from server.principal import Principal, Role
from tests.fixtures.app import Client
from tests.fixtures.errors import assert_error
from tests.fixtures.sessions import create_user, sign_in_password, sign_in_staff, sign_in_wechat


async def test_create_user_refuses_a_weak_password_clearly(settings: Settings) -> None:
    args = ("--username", "ms-li", "--role", "admin")
    done = await asyncio.to_thread(create_user, settings, *args, password="short-pw")
    assert done.returncode == 1
    assert done.stderr == "refused: password too short: at least 12 characters\n"
    done = await asyncio.to_thread(
        create_user, settings, *args, password="紫藤花开的下午三点钟去散步"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("user ms-li (admin, resident) id=")


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("abc", "too short"),
        ("Password1234", "too common"),
        ("1QAZ2wsx3edc", "too common"),
        ("aaaaaaaaaaaaaaaa", "too common"),
        ("principal-Ms-Li-2026", "contains the username"),
    ],
)
async def test_staff_passwords_are_long_and_uncommon(
    client: Client, password: str, why: str
) -> None:
    with pytest.raises(WeakPassword, match=why):
        await client.app[AUTH_SERVICE].create_staff_user("ms-li", password, [Role.editor])
    assert await client.app[AUTH_SERVICE].users.find_by_username("ms-li") is None


async def test_password_reset_ends_every_session_of_the_account(
    client: Client, settings: Settings
) -> None:
    laptop = await sign_in_staff(client, "editor9", Role.editor)
    other = await sign_in_staff(client, "editor10", Role.editor)
    done = await asyncio.to_thread(
        create_user,
        settings,
        "--username",
        "editor9",
        "--role",
        "editor",
        "--update",
        password="a-brand-new-passphrase",
    )
    assert done.returncode == 0, done.stderr
    assert "any earlier session of it ended" in done.stdout
    assert (await client.get("/api/v1/me", headers=laptop.headers)).status == 401
    refresh = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": laptop.refresh_token}
    )
    assert refresh.status == 401
    # Other accounts keep theirs; the new password signs in.
    assert (await client.get("/api/v1/me", headers=other.headers)).status == 200
    again = await client.post(
        "/api/v1/auth/login", json={"username": "editor9", "password": "a-brand-new-passphrase"}
    )
    assert again.status == 200


# -- staff accounts as admins manage them (handlers/auth/staff.py) --------------------------


def _admin(user_id: str) -> Principal:
    return Principal(user_id, "s", frozenset({Role.admin}), "t")


async def _audit(client: Client, subject: str) -> list[str]:
    return [entry["action"] for entry in await client.app[AUDIT].repo.about(subject)]


async def test_a_disabled_account_signs_in_nowhere_and_its_tokens_die_at_once(
    client: Client,
) -> None:
    admin = await sign_in_staff(client, "head-admin", Role.admin)
    editor = await sign_in_staff(client, "editor-zhao", Role.editor)
    password = "a-long-enough-passphrase"
    staff = client.app[STAFF_ACCOUNT_SERVICE]
    await staff.reset_password(_admin(admin.user_id), editor.user_id, password)
    laptop = await sign_in_password(client, "editor-zhao", password)
    assert (await client.get("/api/v1/me", headers=laptop.headers)).status == 200

    disabled = await staff.set_disabled(_admin(admin.user_id), editor.user_id, disabled=True)
    assert disabled.disabled_at is not None
    assert (await client.get("/api/v1/me", headers=laptop.headers)).status == 401
    refresh = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": laptop.refresh_token}
    )
    assert refresh.status == 401
    login = {"username": "editor-zhao", "password": password}
    refused = await client.post("/api/v1/auth/login", json=login)
    assert_error(await refused.json(), "account_disabled")
    assert refused.status == 403
    wrong = await client.post("/api/v1/auth/login", json={**login, "password": "x" * 20})
    assert wrong.status == 401  # only the right password learns the account is disabled
    assert (await client.get("/api/v1/me", headers=admin.headers)).status == 200

    again = await staff.set_disabled(_admin(admin.user_id), editor.user_id, disabled=True)
    assert again.disabled_at == disabled.disabled_at  # twice is once
    await staff.set_disabled(_admin(admin.user_id), editor.user_id, disabled=False)
    assert (await client.post("/api/v1/auth/login", json=login)).status == 200
    assert await _audit(client, editor.user_id) == [
        "staff_password_reset",
        "staff_account_disabled",
        "staff_account_enabled",
    ]


async def test_a_session_started_while_the_account_was_disabled_ends_there(
    client: Client,
) -> None:
    admin = await sign_in_staff(client, "head-admin", Role.admin)
    editor = await sign_in_staff(client, "editor-qian", Role.editor)
    auth = client.app[AUTH_SERVICE]
    read_before = await auth.get_user(editor.user_id)  # its password checked, say
    await client.app[STAFF_ACCOUNT_SERVICE].set_disabled(
        _admin(admin.user_id), editor.user_id, disabled=True
    )
    with pytest.raises(AccountDisabled):
        await auth.start_cookie_session(read_before, 3600)
    sessions = await auth.sessions.session_ids_of(editor.user_id)
    assert sessions and all([await auth.session_revoked(sid) for sid in sessions])


async def test_an_admin_cannot_lock_themself_out(client: Client) -> None:
    admin = await sign_in_staff(client, "only-admin", Role.admin, Role.editor)
    staff = client.app[STAFF_ACCOUNT_SERVICE]
    me = _admin(admin.user_id)
    with pytest.raises(SelfLockout):
        await staff.set_disabled(me, admin.user_id, disabled=True)
    with pytest.raises(SelfLockout):
        await staff.set_roles(me, admin.user_id, ["editor"])
    kept = await staff.set_roles(me, admin.user_id, ["admin"])  # the others are theirs
    assert kept.staff_roles == [Role.admin] and kept.disabled_at is None
    assert (await client.get("/api/v1/me", headers=admin.headers)).status == 401  # editor gone
    assert await _audit(client, admin.user_id) == ["staff_roles_changed"]


async def test_a_role_taken_away_ends_the_sessions_and_one_given_does_not(
    client: Client,
) -> None:
    admin = await sign_in_staff(client, "head-admin", Role.admin)
    teacher = await sign_in_staff(client, "teacher-sun", Role.teacher)
    staff = client.app[STAFF_ACCOUNT_SERVICE]
    given = await staff.set_roles(_admin(admin.user_id), teacher.user_id, ["teacher", "editor"])
    assert given.roles == [Role.editor, Role.resident, Role.teacher]
    assert (await client.get("/api/v1/me", headers=teacher.headers)).status == 200
    await staff.set_roles(_admin(admin.user_id), teacher.user_id, ["editor"])
    assert (await client.get("/api/v1/me", headers=teacher.headers)).status == 401
    entry = (await client.app[AUDIT].repo.about(teacher.user_id))[-1]
    assert entry["details"] == {"roles_before": ["teacher", "editor"], "roles_after": ["editor"]}
    assert entry["actor"] == f"user:{admin.user_id}"


async def test_the_staff_list_holds_staff_accounts_by_username_with_their_last_sign_in(
    client: Client, clock: SettableClock
) -> None:
    await sign_in_wechat(client, "a-resident")  # not staff: not listed
    auth = client.app[AUTH_SERVICE]
    password = "a-long-enough-passphrase"
    for name in ["zz-last", "aa-first", "mm-middle", "never-in"]:
        await auth.create_staff_user(name, password, [Role.editor])
    await sign_in_password(client, "aa-first", password)
    clock.advance(60)
    await sign_in_password(client, "aa-first", password)  # the last one
    staff = client.app[STAFF_ACCOUNT_SERVICE]
    first = await staff.page(PageQuery(limit=3))
    assert [item.username for item in first.items] == ["aa-first", "mm-middle", "never-in"]
    assert first.items[0].last_sign_in_at == clock.now()
    assert first.items[2].last_sign_in_at is None
    rest = await staff.page(PageQuery(limit=3, cursor=first.next_cursor))
    assert [item.username for item in rest.items] == ["zz-last"] and rest.next_cursor is None


async def test_a_username_signs_in_whatever_its_case(client: Client) -> None:
    """A phone's keyboard capitalises the first letter: "Ms-Wang" is the account
    "ms-wang", and a second "MS-WANG" is the same name, refused as taken (the sign-in
    throttle already counted a name in any case as one)."""
    password = "紫藤花开的下午三点钟去散步"
    auth = client.app[AUTH_SERVICE]
    made = await auth.create_staff_user("Ms-Wang", password, [Role.editor])
    assert made.username == "ms-wang"
    for typed in ("ms-wang", "Ms-Wang", "MS-WANG"):
        resp = await client.post(
            "/api/v1/auth/login", json={"username": typed, "password": password}
        )
        assert resp.status == 200, (typed, await resp.text())
    with pytest.raises(UsernameTaken):
        await auth.create_staff_user("MS-WANG", password, [Role.admin])
    wrong = await client.post(
        "/api/v1/auth/login", json={"username": "MS-WANG", "password": "not-the-password"}
    )
    assert wrong.status == 401
