"""Every sign-in path, token defects, rotation, revocation and the caller's account."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import jwt
import pytest
from pydantic import SecretStr, ValidationError

from config.settings import Settings
from handlers.auth.keys import AUTH_SERVICE
from server.clock import Clock, SettableClock
from server.principal import Role
from server.signing import ACCESS_TOKEN, Signer
from tests.fixtures.app import TEST_JWT_SECRET, Client, at_window_start
from tests.fixtures.errors import assert_error
from tests.fixtures.sessions import sign_in_staff, sign_in_wechat
from tests.fixtures.wechat import FakeWeChat

ACCESS_KEY = Signer(TEST_JWT_SECRET).key(ACCESS_TOKEN)


def forge(
    claims: dict[str, object], clock: Clock, key: str | bytes = ACCESS_KEY, alg: str = "HS256"
) -> str:
    """An access token with ``claims`` over valid ones issued now on ``clock``."""
    now = int(clock.timestamp())
    base: dict[str, object] = {
        "iss": "jiangxin",
        "aud": "jiangxin-miniprogram",
        "sub": "0" * 24,
        "sid": "0" * 32,
        "typ": "access",
        "roles": ["admin"],
        "iat": now,
        "exp": now + 600,
        "jti": "x",
    }
    base.update(claims)
    return jwt.encode(base, key, algorithm=alg)


async def test_wechat_sign_in_returns_tokens_that_work_on_me(client: Client) -> None:
    session = await sign_in_wechat(client, "alice")
    resp = await client.get("/api/v1/me", headers=session.headers)
    assert resp.status == 200
    me = await resp.json()
    assert me["id"] == session.user_id
    assert me["roles"] == ["resident"]
    assert "session_key" not in str(me)


async def test_same_openid_signs_into_the_same_account(client: Client) -> None:
    first = await sign_in_wechat(client, "bob")
    second = await sign_in_wechat(client, "bob")
    other = await sign_in_wechat(client, "carol")
    assert first.user_id == second.user_id != other.user_id


async def test_concurrent_first_sign_ins_create_one_account(client: Client) -> None:
    sessions = await asyncio.gather(*(sign_in_wechat(client, "dora") for _ in range(30)))
    assert len({s.user_id for s in sessions}) == 1


async def test_session_key_never_leaves_the_server(client: Client) -> None:
    resp = await client.post("/api/v1/auth/wechat", json={"code": "dev:eve"})
    text = await resp.text()
    assert "session_key" not in text


async def test_bad_wechat_code_is_401(client: Client, fake_wechat: FakeWeChat) -> None:
    resp = await client.post("/api/v1/auth/wechat", json={"code": "made-up"})
    assert resp.status == 401
    assert_error(await resp.json(), "wechat_code_invalid")
    code = fake_wechat.state.issue_code("o-real-user")
    assert (await client.post("/api/v1/auth/wechat", json={"code": code})).status == 200
    reused = await client.post("/api/v1/auth/wechat", json={"code": code})
    assert reused.status == 401
    assert_error(await reused.json(), "wechat_code_invalid")


@pytest.mark.parametrize("failure", ["http_500", "errcode"])
async def test_wechat_failing_is_503(client: Client, fake_wechat: FakeWeChat, failure: str) -> None:
    fake_wechat.state.failure = failure  # type: ignore[assignment]
    resp = await client.post("/api/v1/auth/wechat", json={"code": "dev:frank"})
    assert resp.status == 503
    assert resp.headers["Retry-After"]
    assert_error(await resp.json(), "unavailable")


async def test_wechat_unreachable_is_503(
    aiohttp_client: object, settings: Settings, unused_tcp_port: int
) -> None:
    from server.app import create_app

    dead = settings.model_copy(update={"wechat_api_base": f"http://127.0.0.1:{unused_tcp_port}"})
    client = await aiohttp_client(create_app(dead))  # type: ignore[operator]
    resp = await client.post("/api/v1/auth/wechat", json={"code": "dev:gina"})
    assert resp.status == 503
    assert_error(await resp.json(), "unavailable")


async def test_staff_sign_in_and_wrong_password(client: Client) -> None:
    editor = await sign_in_staff(client, "editor1", Role.editor)
    me = await (await client.get("/api/v1/me", headers=editor.headers)).json()
    assert set(me["roles"]) == {"editor", "resident"}
    wrong = await client.post(
        "/api/v1/auth/login", json={"username": "editor1", "password": "nope"}
    )
    assert wrong.status == 401
    assert_error(await wrong.json(), "invalid_credentials")
    unknown = await client.post(
        "/api/v1/auth/login", json={"username": "nobody", "password": "nope"}
    )
    assert unknown.status == 401
    assert_error(await unknown.json(), "invalid_credentials")


async def test_repeated_failed_logins_are_429(client: Client, clock: SettableClock) -> None:
    at_window_start(clock, client.app[AUTH_SERVICE].settings.login_failures_window_s)
    await client.app[AUTH_SERVICE].create_staff_user("teacher1", "right-password", [Role.teacher])
    limit = client.app[AUTH_SERVICE].settings.login_failures_max
    for _ in range(limit):
        resp = await client.post(
            "/api/v1/auth/login", json={"username": "teacher1", "password": "wrong"}
        )
        assert resp.status == 401
    blocked = await client.post(
        "/api/v1/auth/login", json={"username": "teacher1", "password": "right-password"}
    )
    assert blocked.status == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert_error(await blocked.json(), "rate_limited")


async def test_refresh_rotates_and_reuse_revokes_the_family(client: Client) -> None:
    session = await sign_in_wechat(client, "hana")
    first = await client.post("/api/v1/auth/refresh", json={"refresh_token": session.refresh_token})
    assert first.status == 200
    rotated = await first.json()
    assert rotated["refresh_token"] != session.refresh_token
    new_headers = {"Authorization": f"Bearer {rotated['access_token']}"}
    assert (await client.get("/api/v1/me", headers=new_headers)).status == 200

    reuse = await client.post("/api/v1/auth/refresh", json={"refresh_token": session.refresh_token})
    assert reuse.status == 401
    assert_error(await reuse.json(), "refresh_token_reused")
    # The whole family is dead: the newest refresh token and every access token.
    newest = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]}
    )
    assert newest.status == 401
    assert (await client.get("/api/v1/me", headers=new_headers)).status == 401
    assert (await client.get("/api/v1/me", headers=session.headers)).status == 401


async def test_unknown_refresh_token_is_401_without_revoking(client: Client) -> None:
    session = await sign_in_wechat(client, "ivan")
    sid = session.refresh_token.split(".")[0]
    forged = await client.post("/api/v1/auth/refresh", json={"refresh_token": f"{sid}.{'A' * 43}"})
    assert forged.status == 401
    assert_error(await forged.json(), "refresh_token_invalid")
    assert (await client.get("/api/v1/me", headers=session.headers)).status == 200
    for junk in ("junk", "a.b", "x" * 200):
        resp = await client.post("/api/v1/auth/refresh", json={"refresh_token": junk})
        assert resp.status == 401


async def test_logout_kills_the_access_token_at_once(client: Client) -> None:
    session = await sign_in_wechat(client, "jane")
    other = await sign_in_wechat(client, "jane")  # another device stays signed in
    resp = await client.post("/api/v1/auth/logout", headers=session.headers)
    assert resp.status == 204
    after = await client.get("/api/v1/me", headers=session.headers)
    assert after.status == 401
    assert_error(await after.json(), "token_invalid")
    refresh = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": session.refresh_token}
    )
    assert refresh.status == 401
    assert (await client.get("/api/v1/me", headers=other.headers)).status == 200


@pytest.mark.parametrize(
    "token_kind",
    ["alg_none", "tampered", "expired", "wrong_audience", "wrong_issuer", "wrong_key", "no_jti"],
)
async def test_defective_access_tokens_are_401(
    client: Client, clock: SettableClock, token_kind: str
) -> None:
    session = await sign_in_wechat(client, "kim")
    real = jwt.decode(session.access_token, options={"verify_signature": False})
    if token_kind == "alg_none":
        token = jwt.encode(real, None, algorithm="none")  # type: ignore[arg-type]
    elif token_kind == "tampered":
        header, _payload, sig = session.access_token.split(".")
        tampered = jwt.encode({**real, "roles": ["admin"]}, "o" * 40, algorithm="HS256")
        token = ".".join([header, tampered.split(".")[1], sig])
    elif token_kind == "expired":
        token = forge({**real, "iat": 1, "exp": 2}, clock)
    elif token_kind == "wrong_audience":
        token = forge({**real, "aud": "someone-else"}, clock)
    elif token_kind == "wrong_issuer":
        token = forge({**real, "iss": "someone-else"}, clock)
    elif token_kind == "wrong_key":
        token = forge(real, clock, key="not-our-secret-" + "y" * 40)
    else:
        without_jti = {key: value for key, value in real.items() if key != "jti"}
        token = jwt.encode(without_jti, TEST_JWT_SECRET, algorithm="HS256")
    resp = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 401
    body = await resp.json()
    assert body["error"]["code"] in ("token_invalid", "token_expired")


async def test_a_token_already_accepted_still_dies_at_its_expiry(
    client: Client, clock: SettableClock, settings: Settings
) -> None:
    """A process keeps the tokens it verified; their times are checked on every use."""
    session = await sign_in_wechat(client, "remembered")
    assert (await client.get("/api/v1/me", headers=session.headers)).status == 200
    clock.advance(settings.access_token_ttl_s - 60)
    assert (await client.get("/api/v1/me", headers=session.headers)).status == 200
    clock.advance(70)
    expired = await client.get("/api/v1/me", headers=session.headers)
    assert expired.status == 401
    assert_error(await expired.json(), "token_expired")
    clock.set(clock.now() - timedelta(seconds=settings.access_token_ttl_s + 60))
    # (back before it was issued: not ours)
    assert (await client.get("/api/v1/me", headers=session.headers)).status == 401


@pytest.mark.parametrize("header", ["Token abc", "Bearer", "Basic dXNlcjpwYXNz", "Bearer  "])
async def test_malformed_authorization_header_is_401(client: Client, header: str) -> None:
    resp = await client.get("/api/v1/me", headers={"Authorization": header})
    assert resp.status == 401
    assert_error(await resp.json(), "unauthorized")


async def test_private_routes_need_a_token(client: Client) -> None:
    for method, path in [
        ("GET", "/api/v1/me"),
        ("PATCH", "/api/v1/me"),
        ("GET", "/api/v1/me/export"),
        ("DELETE", "/api/v1/me"),
        ("POST", "/api/v1/auth/logout"),
    ]:
        resp = await client.request(method, path)
        assert resp.status == 401, (method, path)
        assert_error(await resp.json(), "unauthorized")


async def test_patch_me_updates_profile_and_rejects_bad_input(client: Client) -> None:
    session = await sign_in_wechat(client, "lily")
    resp = await client.patch(
        "/api/v1/me",
        json={"nickname": "  小李  ", "real_name": "李丽", "phone": "13800138000"},
        headers=session.headers,
    )
    assert resp.status == 200
    me = await resp.json()
    assert me["nickname"] == "小李"
    assert "phone" not in me and "real_name" not in me  # User carries neither
    for body, field in [
        ({"phone": "12345"}, "phone"),
        ({"nickname": ""}, "nickname"),
        ({"roles": ["admin"]}, "roles"),
        ({"nickname": {"$ne": ""}}, "nickname.$ne"),
        ({"avatar_media_id": "nope"}, "avatar_media_id"),
    ]:
        bad = await client.patch("/api/v1/me", json=body, headers=session.headers)
        assert bad.status == 422, body
        err = await bad.json()
        assert field in err["error"]["details"]["fields"], err
    me_after = await (await client.get("/api/v1/me", headers=session.headers)).json()
    assert me_after["roles"] == ["resident"]
    assert me_after["nickname"] == "小李"


async def test_export_holds_the_callers_data(client: Client) -> None:
    session = await sign_in_wechat(client, "mona")
    await client.patch("/api/v1/me", json={"phone": "13900139000"}, headers=session.headers)
    resp = await client.get("/api/v1/me/export", headers=session.headers)
    assert resp.status == 200
    export = await resp.json()
    assert export["user_id"] == session.user_id
    assert export["sections"]["account"]["profile"]["phone"] == "13900139000"
    assert export["sections"]["account"]["profile"]["wechat_openid"] == "dev-mona"
    assert len(export["sections"]["account"]["sessions"]) == 1
    assert session.refresh_token not in await resp.text()


async def test_delete_me_erases_and_ends_every_session(client: Client) -> None:
    session = await sign_in_wechat(client, "nina")
    await client.patch(
        "/api/v1/me", json={"phone": "13700137000", "real_name": "倪娜"}, headers=session.headers
    )
    resp = await client.delete("/api/v1/me", headers=session.headers)
    assert resp.status == 202
    assert (await client.get("/api/v1/me", headers=session.headers)).status == 401
    profile = await client.app[AUTH_SERVICE].users.export(session.user_id)
    assert profile is not None
    assert profile["phone"] is None and profile["real_name"] is None
    assert profile["wechat_openid"] is None
    # Signing in again with the same WeChat account starts a fresh account.
    again = await sign_in_wechat(client, "nina")
    assert again.user_id != session.user_id


def test_production_refuses_the_development_login() -> None:
    with pytest.raises(ValidationError, match="WECHAT_APP_ID"):
        Settings(app_env="production", jwt_secret=SecretStr("z" * 40), wechat_app_id="")
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        Settings(app_env="production", wechat_app_id="wx1", wechat_app_secret=SecretStr("s"))
    with pytest.raises(ValidationError, match="WECHAT_PUSH_TOKEN"):
        Settings(
            app_env="production",
            jwt_secret=SecretStr("z" * 40),
            wechat_app_id="wx1",
            wechat_app_secret=SecretStr("s"),
        )
    production = Settings(
        app_env="production",
        jwt_secret=SecretStr("z" * 40),
        wechat_app_id="wx1",
        wechat_app_secret=SecretStr("s"),
        wechat_push_token=SecretStr("t"),
    )
    assert not production.dev_login_enabled
    assert Settings(app_env="development", wechat_app_id="").dev_login_enabled
