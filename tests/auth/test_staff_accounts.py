"""``python -m server create-user``: staff password policy, and a password reset that
ends every session of the account."""

from __future__ import annotations

import asyncio

import pytest

from config.settings import Settings
from handlers.auth.keys import AUTH_SERVICE
from handlers.auth.passwords import WeakPassword
from server.principal import Role
from tests.fixtures.app import Client
from tests.fixtures.sessions import create_user, sign_in_staff


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
