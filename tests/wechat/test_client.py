"""WeChat's errors as users meet them, and the access token shared by every process."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import aiohttp
import pytest

from config.settings import Settings
from server.app import create_app
from server.clock import SettableClock
from server.keys import WECHAT
from tests.fixtures.app import AiohttpClient, Client
from tests.fixtures.errors import assert_error
from tests.fixtures.wechat import FAKE_APP_ID, FAKE_APP_SECRET, FakeWeChat


async def test_minute_quota_is_429_with_retry_after_until_the_next_minute(
    client: Client, fake_wechat: FakeWeChat, clock: SettableClock
) -> None:
    clock.set(datetime(2026, 12, 2, 8, 0, 45, tzinfo=UTC))
    fake_wechat.state.fail_next("jscode2session", 45011)
    resp = await client.post("/api/v1/auth/wechat", json={"code": "dev:busy"})
    assert resp.status == 429
    assert resp.headers["Retry-After"] == "15"
    assert_error(await resp.json(), "rate_limited")
    again = await client.post("/api/v1/auth/wechat", json={"code": "dev:busy"})
    assert again.status == 200


async def test_a_high_risk_user_gets_its_own_403(client: Client, fake_wechat: FakeWeChat) -> None:
    fake_wechat.state.fail_next("jscode2session", 40226)
    resp = await client.post("/api/v1/auth/wechat", json={"code": "dev:shady"})
    assert resp.status == 403
    assert_error(await resp.json(), "wechat_user_risky")


@pytest.mark.parametrize("errcode", ["not-a-number", "４００２９", 1.5, [], {"x": 1}, True])
async def test_a_non_numeric_errcode_is_503_not_500(
    client: Client, fake_wechat: FakeWeChat, errcode: object
) -> None:
    fake_wechat.state.fail_next("jscode2session", errcode)
    resp = await client.post("/api/v1/auth/wechat", json={"code": "dev:odd"})
    assert resp.status == 503
    assert_error(await resp.json(), "unavailable")


async def test_the_fake_refuses_calls_the_real_one_would(fake_wechat: FakeWeChat) -> None:
    """So a wrong call of ours fails in the tests too."""
    base = fake_wechat.base_url
    good = {"appid": FAKE_APP_ID, "secret": FAKE_APP_SECRET, "js_code": "dev:x"}
    async with aiohttp.ClientSession() as http:

        async def errcode(method: str, path: str, **kw: object) -> object:
            async with http.request(method, base + path, **kw) as resp:  # type: ignore[arg-type]
                return (await resp.json()).get("errcode", 0)

        login = "/sns/jscode2session"
        assert await errcode("GET", login, params=good) == 40002  # no grant_type
        grant = {"grant_type": "authorization_code"}
        assert await errcode("GET", login, params={**good, **grant, "secret": "x"}) == 40125
        assert await errcode("GET", login, params={**good, **grant, "appid": "x"}) == 40013
        assert await errcode("GET", login, params={**good, **grant}) == 0
        token_body = {"appid": FAKE_APP_ID, "secret": FAKE_APP_SECRET}
        token_path = "/cgi-bin/stable_token"
        assert await errcode("POST", token_path, json=token_body) == 40002
        async with http.post(
            base + token_path, json={**token_body, "grant_type": "client_credential"}
        ) as resp:
            token = (await resp.json())["access_token"]
        check = {"content": "你好", "version": 2, "scene": 2, "openid": "dev-x"}
        path = "/wxa/msg_sec_check"
        q = {"access_token": token}
        assert await errcode("POST", path, params=q, json=check) == 0
        assert await errcode("POST", path, params={"access_token": "nope"}, json=check) == 40001
        assert await errcode("POST", path, params=q, json={**check, "version": 1}) == 47001
        assert await errcode("POST", path, params=q, json={**check, "scene": 5}) == 40003
        assert await errcode("POST", path, params=q, json={**check, "openid": "dev-y"}) == 40003
        # Development mode's fake knows the seed's dev-<name> users, who signed in to no
        # fake of this process (the seed's students are told of their reviews).
        fake_wechat.state.dev_users_known = True
        assert await errcode("POST", path, params=q, json={**check, "openid": "dev-y"}) == 0
        assert await errcode("POST", path, params=q, json={**check, "openid": "o-y"}) == 40003
        fake_wechat.state.expire_tokens()
        assert await errcode("POST", path, params=q, json=check) == 42001


async def test_hundreds_of_callers_with_a_stale_token_cause_one_refresh(
    client: Client, fake_wechat: FakeWeChat
) -> None:
    wechat = client.app[WECHAT]
    await client.post("/api/v1/auth/wechat", json={"code": "dev:many"})
    first = await wechat.msg_sec_check("你好", "dev-many")
    assert first.suggest == "pass"
    assert fake_wechat.state.token_fetches == 1
    fake_wechat.state.expire_tokens()  # WeChat answers 42001 to the token everyone holds
    checks = await asyncio.gather(*(wechat.msg_sec_check("你好", "dev-many") for _ in range(300)))
    assert {check.suggest for check in checks} == {"pass"}
    assert fake_wechat.state.token_fetches == 2  # exactly one refresh for all 300
    fake_wechat.state.fail_next("msg_sec_check", 40001)  # invalid once more: one more
    await wechat.msg_sec_check("你好", "dev-many")
    assert fake_wechat.state.token_fetches == 3


async def test_two_apps_share_one_token_through_redis(
    aiohttp_client: AiohttpClient,
    settings: Settings,
    clock: SettableClock,
    fake_wechat: FakeWeChat,
) -> None:
    """Two app instances (as two server processes) on one Redis: one fetch serves both,
    and when the token goes stale, their concurrent callers still cause one refresh."""
    apps = [await aiohttp_client(create_app(settings, clock=clock)) for _ in range(2)]
    await apps[0].post("/api/v1/auth/wechat", json={"code": "dev:pair"})
    clients = [app.app[WECHAT] for app in apps]
    await clients[0].msg_sec_check("你好", "dev-pair")
    await clients[1].msg_sec_check("你好", "dev-pair")
    assert fake_wechat.state.token_fetches == 1
    assert await clients[0].access_token() == await clients[1].access_token()
    fake_wechat.state.expire_tokens()
    await asyncio.gather(*(clients[i % 2].msg_sec_check("你好", "dev-pair") for i in range(200)))
    assert fake_wechat.state.token_fetches == 2
