"""Users' content reaching others: nicknames through msgSecCheck, public photos through
mediaCheckAsync, whose verdict our fake WeChat pushes back to our endpoint over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
import pytest
from pydantic import SecretStr

from config.settings import Settings
from handlers.media import retry_media_checks
from server.app import create_app
from server.clock import SettableClock
from server.keys import CLOCK
from server.wechat_fake import push, signed_push
from server.wechat_push import PushCipher, push_signature
from tests.fixtures.app import AiohttpClient, Client, drop_test_state, make_settings
from tests.fixtures.errors import assert_error
from tests.fixtures.sessions import Session, sign_in_wechat
from tests.fixtures.wechat import FakeWeChat
from tests.media.test_media_api import jpeg_bytes, upload

PUSH_TOKEN = "push-token-for-tests"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # WeChat's sample EncodingAESKey
PUSH_PATH = "/api/v1/wechat/push"


@pytest.fixture(params=["safe", "plain"])
async def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def moderated(
    aiohttp_client: AiohttpClient, fake_wechat: FakeWeChat, clock: SettableClock, mode: str
) -> AsyncIterator[Client]:
    """The app with message push configured, and the fake WeChat pushing to it."""
    settings: Settings = make_settings(
        fake_wechat.base_url,
        wechat_push_token=SecretStr(PUSH_TOKEN),
        wechat_push_aes_key=SecretStr(AES_KEY if mode == "safe" else ""),
    )
    client = await aiohttp_client(create_app(settings, clock=clock))
    state = fake_wechat.state
    state.push_url = str(client.make_url(PUSH_PATH))
    state.push_token = PUSH_TOKEN
    state.push_aes_key = AES_KEY if mode == "safe" else None
    state.media_origin = str(client.make_url("/"))
    state.now = clock.timestamp
    yield client
    await state.settle()
    await drop_test_state(settings)


def local(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def unsigned(url: str) -> str:
    return urlsplit(url).path


async def status_of(client: Client, url: str) -> int:
    async with client.get(url) as resp:
        return resp.status


async def set_avatar(client: Client, who: Session, color: str) -> dict[str, Any]:
    resp = await upload(client, who, jpeg_bytes(color=color), purpose="avatar")
    assert resp.status == 201, await resp.text()
    media = await resp.json()
    patched = await client.patch(
        "/api/v1/me", json={"avatar_media_id": media["id"]}, headers=who.headers
    )
    assert patched.status == 200, await patched.text()
    return dict(media)


async def my_avatar(client: Client, who: Session) -> Any:
    return (await (await client.get("/api/v1/me", headers=who.headers)).json())["avatar"]


async def test_a_photo_reaches_others_only_after_wechat_says_pass(
    moderated: Client, fake_wechat: FakeWeChat
) -> None:
    owner = await sign_in_wechat(moderated, "photographer")
    media = await set_avatar(moderated, owner, "teal")
    url = media["urls"]["medium"]
    assert "sig=" in url  # the owner sees it at once, through a signed URL
    assert await status_of(moderated, local(url)) == 200
    assert (await my_avatar(moderated, owner))["id"] == media["id"]
    request = fake_wechat.state.media_requests[0]
    assert request["media_type"] == 2 and request["version"] == 2 and request["scene"] == 1
    assert request["openid"] == "dev-photographer"
    await fake_wechat.state.settle()  # WeChat fetched the photo and pushed its verdict
    assert fake_wechat.state.fetched == [200]
    assert fake_wechat.state.pushed == [200]
    assert await status_of(moderated, unsigned(url)) == 200  # now everyone's


async def test_others_do_not_see_a_photo_before_the_verdict(
    moderated: Client, fake_wechat: FakeWeChat
) -> None:
    fake_wechat.state.push_url = None  # the verdict has not come yet
    owner = await sign_in_wechat(moderated, "early")
    media = await set_avatar(moderated, owner, "navy")
    await fake_wechat.state.settle()
    assert fake_wechat.state.fetched == [200]
    assert await status_of(moderated, unsigned(media["urls"]["medium"])) == 404
    assert await status_of(moderated, local(media["urls"]["medium"])) == 200  # the owner's


async def test_a_risky_verdict_hides_the_photo_everywhere(
    moderated: Client, fake_wechat: FakeWeChat
) -> None:
    state = fake_wechat.state
    push_url, state.push_url = state.push_url, None  # the verdict comes when we say
    owner = await sign_in_wechat(moderated, "reckless")
    media = await set_avatar(moderated, owner, "maroon")
    signed = media["urls"]["large"]
    assert await status_of(moderated, local(signed)) == 200
    await state.settle()
    state.push_url = push_url
    async with aiohttp.ClientSession() as http:
        verdict = _verdict(state.media_requests[0]["trace_id"], "risky")
        assert await push(http, state, verdict) == 200
    assert await status_of(moderated, local(signed)) == 404  # URLs handed out before, too
    assert await status_of(moderated, unsigned(signed)) == 404
    assert await my_avatar(moderated, owner) is None
    again = await upload(moderated, owner, jpeg_bytes(color="maroon"), purpose="avatar")
    assert len(fake_wechat.state.media_requests) == 1  # the same bytes: not asked again
    assert (await again.json())["id"] == media["id"]


async def test_the_push_url_check_echoes_only_when_signed(moderated: Client) -> None:
    ts = str(int(moderated.app[CLOCK].timestamp()))
    good = {"timestamp": ts, "nonce": "n1", "echostr": "hello-wechat"}
    good["signature"] = push_signature(PUSH_TOKEN, ts, "n1")
    resp = await moderated.get(PUSH_PATH, params=good)
    assert resp.status == 200 and await resp.text() == "hello-wechat"
    bad = await moderated.get(PUSH_PATH, params={**good, "signature": "0" * 40})
    assert bad.status == 403
    assert_error(await bad.json(), "wechat_push_rejected")
    for query in ({**good, "timestamp": "²"}, {}, {**good, "timestamp": "9" * 5000}):
        assert (await moderated.get(PUSH_PATH, params=query)).status == 403


async def _pending_photo(moderated: Client, fake_wechat: FakeWeChat, name: str) -> tuple[str, str]:
    """A photo WeChat said ``review`` about: held; its trace_id and a URL of it."""
    fake_wechat.state.media_suggests = ["review"]
    owner = await sign_in_wechat(moderated, name)
    media = await set_avatar(moderated, owner, "olive")
    await fake_wechat.state.settle()
    assert await status_of(moderated, unsigned(media["urls"]["thumb"])) == 404
    return str(fake_wechat.state.media_requests[-1]["trace_id"]), str(media["urls"]["thumb"])


def _verdict(trace_id: str, suggest: str) -> dict[str, Any]:
    return {
        "Event": "wxa_media_check",
        "MsgType": "event",
        "trace_id": trace_id,
        "version": 2,
        "errcode": 0,
        "result": {"suggest": suggest, "label": 100},
    }


async def test_forged_stale_and_replayed_pushes_change_nothing(
    moderated: Client, fake_wechat: FakeWeChat, clock: SettableClock, mode: str
) -> None:
    trace_id, thumb = await _pending_photo(moderated, fake_wechat, "held")
    state = fake_wechat.state
    forged = _verdict(trace_id, "pass")

    async def post(query: dict[str, str], raw: bytes) -> int:
        resp = await moderated.post(
            PUSH_PATH, params=query, data=raw, headers={"Content-Type": "application/json"}
        )
        return resp.status

    # Too old for the clock window, though correctly signed.
    old_query, old_raw = signed_push(state, forged, timestamp=int(clock.timestamp()) - 3600)
    assert await post(old_query, old_raw) == 403
    # Another app's key (safe mode) or a bad signature.
    query, raw = signed_push(state, forged)
    assert await post({**query, "signature": "0" * 40, "msg_signature": "0" * 40}, raw) == 403
    if mode == "safe":
        # No downgrade: a plain body is refused when the AES key is configured.
        plain_query = {k: query[k] for k in ("signature", "timestamp", "nonce")}
        assert await post(plain_query, orjson.dumps(forged)) == 403
        other = PushCipher(AES_KEY, "wx-someone-else").encrypt(orjson.dumps(forged))
        body = orjson.dumps({"ToUserName": "x", "Encrypt": other})
        ts, nonce = query["timestamp"], query["nonce"]
        sig = push_signature(PUSH_TOKEN, ts, nonce, other)
        assert await post({**query, "msg_signature": sig}, body) == 403
    else:
        # Plain mode signs the query only: a captured query replayed with another body
        # is refused by its nonce, seen before.
        harmless_query, harmless_raw = signed_push(state, {"Event": "user_enter_tempsession"})
        assert await post(harmless_query, harmless_raw) == 200
        assert await post(harmless_query, orjson.dumps(forged)) == 200  # ignored
    assert await status_of(moderated, unsigned(thumb)) == 404  # still held
    # Garbage bodies are 4xx, never 500.
    for junk in (b"", b"[]", b"{", b'{"Encrypt": "%%%"}', b'{"Encrypt": 5}'):
        assert 400 <= await post(query, junk) < 500


async def test_a_verdict_counts_once(moderated: Client, fake_wechat: FakeWeChat) -> None:
    trace_id, thumb = await _pending_photo(moderated, fake_wechat, "twice")
    async with aiohttp.ClientSession() as http:
        # WeChat said review (pushed already): a later verdict for that trace_id, even
        # correctly signed, is ignored; an unknown trace_id is 404 (WeChat retries).
        assert await push(http, fake_wechat.state, _verdict(trace_id, "pass")) == 200
        assert await push(http, fake_wechat.state, _verdict("unknown-trace", "pass")) == 404
    assert await status_of(moderated, unsigned(thumb)) == 404


async def test_nicknames_go_through_content_security(
    client: Client, fake_wechat: FakeWeChat
) -> None:
    user = await sign_in_wechat(client, "namer")
    bad = await client.patch("/api/v1/me", json={"nickname": "违规内容"}, headers=user.headers)
    assert bad.status == 422
    assert_error(await bad.json(), "content_rejected")
    held = await client.patch("/api/v1/me", json={"nickname": "待审核的名字"}, headers=user.headers)
    assert held.status == 422
    me = await (await client.get("/api/v1/me", headers=user.headers)).json()
    assert me["nickname"].startswith("匠心用户")
    good = await client.patch("/api/v1/me", json={"nickname": "劳模粉丝"}, headers=user.headers)
    assert good.status == 200 and (await good.json())["nickname"] == "劳模粉丝"
    call = fake_wechat.state.calls.count("msg_sec_check")
    assert call == 3


async def test_a_photo_wechat_could_not_take_is_asked_about_again(
    moderated: Client, fake_wechat: FakeWeChat, clock: SettableClock
) -> None:
    owner = await sign_in_wechat(moderated, "patient")
    fake_wechat.state.fail_next("media_check_async", -1)  # 系统繁忙
    media = await set_avatar(moderated, owner, "purple")
    assert await status_of(moderated, local(media["urls"]["medium"])) == 200  # owner's
    assert await status_of(moderated, unsigned(media["urls"]["medium"])) == 404
    assert await retry_media_checks(moderated.app) == 0  # too soon to ask again
    clock.advance(timedelta(minutes=6))
    assert await retry_media_checks(moderated.app) == 1
    await fake_wechat.state.settle()
    assert fake_wechat.state.pushed == [200]
    assert await status_of(moderated, unsigned(media["urls"]["medium"])) == 200
    assert await retry_media_checks(moderated.app) == 0  # taken: not asked twice
