"""Our fake WeChat API server: a real HTTP server speaking the same JSON as WeChat.

Used by the tests and by development mode. ``dev:<name>`` codes always sign in as
openid ``dev-<name>``; tests can also issue one-shot codes, script content-security
verdicts, make the server fail to see how the backend copes, and hold its answers
until they say so (to know a request is in flight without sleeping for it).
"""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web

_DEV_CODE = re.compile(r"^dev:([A-Za-z0-9_-]{1,32})$")


@dataclass
class FakeWeChatState:
    app_id: str | None = None  # None: accept any app id / secret
    app_secret: str | None = None
    one_shot_codes: dict[str, str] = field(default_factory=dict)  # code -> openid
    used_codes: set[str] = field(default_factory=set)
    review_words: tuple[str, ...] = ("待审核",)
    risky_words: tuple[str, ...] = ("违规内容",)
    failure: Literal["none", "http_500", "errcode"] = "none"
    delay_s: float = 0.0  # answer slowly, like WeChat on a bad day
    hold: asyncio.Event | None = None  # when given: answer only once it is set
    arrived: asyncio.Event = field(default_factory=asyncio.Event)  # set by every request
    calls: list[str] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)

    def issue_code(self, openid: str) -> str:
        """A one-shot code, like those ``wx.login`` returns."""
        code = secrets.token_urlsafe(16)
        self.one_shot_codes[code] = openid
        return code


STATE = web.AppKey("fake_wechat_state", FakeWeChatState)


def _errcode(code: int, msg: str) -> web.Response:
    return web.json_response({"errcode": code, "errmsg": msg})


def _arrive(state: FakeWeChatState, call: str) -> None:
    state.calls.append(call)
    state.arrived.set()


async def _failing(state: FakeWeChatState) -> web.Response | None:
    if state.hold is not None:
        await state.hold.wait()
    if state.delay_s:
        await asyncio.sleep(state.delay_s)
    if state.failure == "http_500":
        return web.Response(status=500, text="busy")
    if state.failure == "errcode":
        return _errcode(-1, "system error")
    return None


async def jscode2session(request: web.Request) -> web.Response:
    state = request.app[STATE]
    _arrive(state, "jscode2session")
    if (failed := await _failing(state)) is not None:
        return failed
    q = request.query
    if state.app_id is not None and (
        q.get("appid") != state.app_id or q.get("secret") != state.app_secret
    ):
        return _errcode(40013, "invalid appid")
    code = q.get("js_code", "")
    if (match := _DEV_CODE.match(code)) is not None:
        openid = f"dev-{match.group(1)}"
    elif code in state.one_shot_codes and code not in state.used_codes:
        state.used_codes.add(code)
        openid = state.one_shot_codes[code]
    elif code in state.used_codes:
        return _errcode(40163, "code been used")
    else:
        return _errcode(40029, "invalid code")
    return web.json_response(
        {"openid": openid, "session_key": secrets.token_urlsafe(16), "errcode": 0}
    )


async def stable_token(request: web.Request) -> web.Response:
    state = request.app[STATE]
    _arrive(state, "stable_token")
    if (failed := await _failing(state)) is not None:
        return failed
    token = "fake-" + secrets.token_urlsafe(24)
    state.tokens.add(token)
    return web.json_response({"access_token": token, "expires_in": 7200})


async def msg_sec_check(request: web.Request) -> web.Response:
    state = request.app[STATE]
    _arrive(state, "msg_sec_check")
    if (failed := await _failing(state)) is not None:
        return failed
    if request.query.get("access_token") not in state.tokens:
        return _errcode(40001, "invalid credential, access_token is invalid")
    body = await request.json()
    content = str(body.get("content", ""))
    suggest, label = "pass", 100
    if any(word in content for word in state.risky_words):
        suggest, label = "risky", 20001
    elif any(word in content for word in state.review_words):
        suggest, label = "review", 21000
    return web.json_response(
        {
            "errcode": 0,
            "errmsg": "ok",
            "result": {"suggest": suggest, "label": label},
            "detail": [],
            "trace_id": secrets.token_hex(8),
        }
    )


def create_fake_wechat_app(state: FakeWeChatState | None = None) -> web.Application:
    app = web.Application()
    app[STATE] = state or FakeWeChatState()
    app.router.add_get("/sns/jscode2session", jscode2session)
    app.router.add_post("/cgi-bin/stable_token", stable_token)
    app.router.add_post("/wxa/msg_sec_check", msg_sec_check)
    return app


async def start_fake_wechat(
    state: FakeWeChatState | None = None, host: str = "127.0.0.1", port: int = 0
) -> tuple[web.AppRunner, str]:
    """Serve the fake on ``host:port`` (0: any free port); returns the runner and base URL."""
    runner = web.AppRunner(create_fake_wechat_app(state), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_port = runner.addresses[0][1]
    return runner, f"http://{host}:{bound_port}"
