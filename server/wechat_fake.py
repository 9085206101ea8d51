"""Our fake WeChat API server: a real HTTP server speaking the same JSON as WeChat.

Used by the tests and by development mode. ``dev:<name>`` codes always sign in as
openid ``dev-<name>``; tests can also issue one-shot codes, script content-security
verdicts, make the server fail to see how the backend copes, and hold its answers
until they say so (to know a request is in flight without sleeping for it).

It checks what the real one checks, so a wrong call fails here too: app id and secret,
``grant_type`` (``authorization_code`` / ``client_credential``), the access token
(unknown: 40001, expired: 42001), ``version=2``, ``scene`` 1-4, ``media_type``, and an
``openid`` that has signed in (40003; with ``dev_users_known``, as in development, any
``dev-<name>`` too: the seed's users, who signed in to no fake of this process).
``fail_next`` makes the next calls of an API answer a given ``errcode`` (any JSON value,
a non-numeric one too). After
``media_check_async`` it fetches the media URL, as WeChat does, and pushes the verdict
to ``push_url`` over HTTP, signed with ``push_token`` (and encrypted with
``push_aes_key``: safe mode). ``subscribeMessage.send`` checks the template's values as
WeChat does (``thing`` at most 20 characters, ``phrase`` 5, ``time`` a date and time...:
47003 otherwise), answers 43101 for openids in ``unsubscribed`` and keeps what it
accepted in ``messages``.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
import orjson
from aiohttp import web

from server.wechat_push import PushCipher, push_signature

_DEV_CODE = re.compile(r"^dev:([A-Za-z0-9_-]{1,32})$")
_DEV_OPENID = re.compile(r"^dev-[A-Za-z0-9_-]{1,32}$")
FAKE_PUSH_USERNAME = "gh_fake_miniprogram"


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
    expired_tokens: set[str] = field(default_factory=set)
    openids: set[str] = field(default_factory=set)  # those that signed in (msgSecCheck)
    dev_users_known: bool = False  # every dev-<name> is a user of the app (development)
    scripted: dict[str, list[Any]] = field(default_factory=dict)  # call -> errcodes
    # Image checks: verdicts in order (then "pass"), where to push them, how.
    media_suggests: list[str] = field(default_factory=list)
    media_origin: str | None = None  # fetch media URLs from here (tests: the test server)
    push_url: str | None = None
    push_token: str = ""
    push_aes_key: str | None = None
    now: Callable[[], float] = time.time
    media_requests: list[dict[str, Any]] = field(default_factory=list)
    fetched: list[int] = field(default_factory=list)  # HTTP status of each media fetch
    pushed: list[int] = field(default_factory=list)  # HTTP status our push endpoint gave
    # Subscribe messages: those sent, and the openids that have not subscribed (43101).
    messages: list[dict[str, Any]] = field(default_factory=list)
    unsubscribed: set[str] = field(default_factory=set)
    _background: set[asyncio.Task[None]] = field(default_factory=set)

    def knows(self, openid: Any) -> bool:
        """Whether ``openid`` is a user of the app (one the real WeChat would know)."""
        if openid in self.openids:
            return True
        return self.dev_users_known and isinstance(openid, str) and bool(_DEV_OPENID.match(openid))

    def issue_code(self, openid: str) -> str:
        """A one-shot code, like those ``wx.login`` returns."""
        code = secrets.token_urlsafe(16)
        self.one_shot_codes[code] = openid
        return code

    def fail_next(self, call: str, errcode: Any, times: int = 1) -> None:
        """The next ``times`` calls of ``call`` (``jscode2session``, ``stable_token``,
        ``msg_sec_check``, ``media_check_async``, ``subscribe_send``) answer ``errcode``."""
        self.scripted.setdefault(call, []).extend([errcode] * times)

    def expire_tokens(self) -> None:
        """Every access token issued so far now answers 42001 (expired)."""
        self.expired_tokens |= self.tokens
        self.tokens.clear()

    @property
    def token_fetches(self) -> int:
        return self.calls.count("stable_token")

    async def settle(self) -> None:
        """Wait until every media check has been fetched and its verdict pushed."""
        while self._background:
            await asyncio.gather(*self._background)


STATE = web.AppKey("fake_wechat_state", FakeWeChatState)


def _errcode(code: Any, msg: str) -> web.Response:
    return web.json_response({"errcode": code, "errmsg": msg})


def _arrive(state: FakeWeChatState, call: str) -> None:
    state.calls.append(call)
    state.arrived.set()


async def _failing(state: FakeWeChatState, call: str) -> web.Response | None:
    if state.hold is not None:
        await state.hold.wait()
    if state.delay_s:
        await asyncio.sleep(state.delay_s)
    if state.failure == "http_500":
        return web.Response(status=500, text="busy")
    if state.failure == "errcode":
        return _errcode(-1, "system error")
    if state.scripted.get(call):
        return _errcode(state.scripted[call].pop(0), "scripted by the test")
    return None


def _bad_credentials(state: FakeWeChatState, app_id: object, secret: object) -> web.Response | None:
    if state.app_id is None:
        return None
    if app_id != state.app_id:
        return _errcode(40013, "invalid appid")
    if secret != state.app_secret:
        return _errcode(40125, "invalid appsecret")
    return None


async def jscode2session(request: web.Request) -> web.Response:
    state = request.app[STATE]
    _arrive(state, "jscode2session")
    if (failed := await _failing(state, "jscode2session")) is not None:
        return failed
    q = request.query
    if (bad := _bad_credentials(state, q.get("appid"), q.get("secret"))) is not None:
        return bad
    if q.get("grant_type") != "authorization_code":
        return _errcode(40002, "invalid grant_type")
    code = q.get("js_code", "")
    if not code:
        return _errcode(41008, "missing code")
    if (match := _DEV_CODE.match(code)) is not None:
        openid = f"dev-{match.group(1)}"
    elif code in state.one_shot_codes and code not in state.used_codes:
        state.used_codes.add(code)
        openid = state.one_shot_codes[code]
    elif code in state.used_codes:
        return _errcode(40163, "code been used")
    else:
        return _errcode(40029, "invalid code")
    state.openids.add(openid)
    return web.json_response(
        {"openid": openid, "session_key": secrets.token_urlsafe(16), "errcode": 0}
    )


async def _json_body(request: web.Request) -> dict[str, Any] | None:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


async def stable_token(request: web.Request) -> web.Response:
    state = request.app[STATE]
    _arrive(state, "stable_token")
    if (failed := await _failing(state, "stable_token")) is not None:
        return failed
    body = await _json_body(request)
    if body is None:
        return _errcode(47001, "data format error")
    if body.get("grant_type") != "client_credential":
        return _errcode(40002, "invalid grant_type")
    if (bad := _bad_credentials(state, body.get("appid"), body.get("secret"))) is not None:
        return bad
    token = "fake-" + secrets.token_urlsafe(24)
    state.tokens.add(token)
    return web.json_response({"access_token": token, "expires_in": 7200})


async def _check_call(request: web.Request, call: str) -> dict[str, Any] | web.Response:
    """The body of a content-security call, or what WeChat answers before looking at the
    content (a failure, a bad token, version, scene or openid)."""
    state = request.app[STATE]
    _arrive(state, call)
    if (failed := await _failing(state, call)) is not None:
        return failed
    body = await _json_body(request)
    token = request.query.get("access_token", "")
    if not token:
        return _errcode(41001, "access_token missing")
    if token in state.expired_tokens:
        return _errcode(42001, "access_token expired")
    if token not in state.tokens:
        return _errcode(40001, "invalid credential, access_token is invalid")
    if body is None or body.get("version") != 2:
        return _errcode(47001, "data format error")
    if body.get("scene") not in (1, 2, 3, 4):
        return _errcode(40003, "invalid scene")
    if not state.knows(body.get("openid")):
        return _errcode(40003, "invalid openid")
    return body


async def msg_sec_check(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await _check_call(request, "msg_sec_check")
    if isinstance(body, web.Response):
        return body
    content = body.get("content")
    if not isinstance(content, str) or not content or len(content) > 2500:
        return _errcode(47001, "data format error")
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


async def media_check_async(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await _check_call(request, "media_check_async")
    if isinstance(body, web.Response):
        return body
    media_url = body.get("media_url")
    if body.get("media_type") not in (1, 2) or not isinstance(media_url, str):
        return _errcode(47001, "data format error")
    if urlsplit(media_url).scheme not in ("http", "https"):
        return _errcode(47001, "data format error")
    trace_id = f"{secrets.token_hex(4)}-{secrets.token_hex(4)}-{secrets.token_hex(4)}"
    state.media_requests.append({**body, "trace_id": trace_id})
    suggest = state.media_suggests.pop(0) if state.media_suggests else "pass"
    task = asyncio.ensure_future(
        _check_and_push(state, media_url, body["openid"], trace_id, suggest)
    )
    state._background.add(task)
    task.add_done_callback(state._background.discard)
    return web.json_response({"errcode": 0, "errmsg": "ok", "trace_id": trace_id})


async def _check_and_push(
    state: FakeWeChatState, media_url: str, openid: str, trace_id: str, suggest: str
) -> None:
    url = media_url
    if state.media_origin is not None:
        parts = urlsplit(media_url)
        url = (
            state.media_origin.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")
        )
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as resp:
            await resp.read()
            state.fetched.append(resp.status)
            fetched_image = resp.status == 200 and resp.content_type.startswith("image/")
        if not fetched_image:
            return  # the real one gives up on a URL it cannot fetch: no verdict comes
        label = {"pass": 100, "review": 21000}.get(suggest, 20002)
        message = {
            "ToUserName": FAKE_PUSH_USERNAME,
            "FromUserName": openid,
            "CreateTime": int(state.now()),
            "MsgType": "event",
            "Event": "wxa_media_check",
            "appid": state.app_id or "wx-development",
            "trace_id": trace_id,
            "version": 2,
            "detail": [
                {
                    "strategy": "content_model",
                    "errcode": 0,
                    "suggest": suggest,
                    "label": label,
                    "prob": 90,
                }
            ],
            "errcode": 0,
            "errmsg": "ok",
            "result": {"suggest": suggest, "label": label},
        }
        if state.push_url is not None:
            state.pushed.append(await push(session, state, message))


# subscribeMessage.send: what each kind of template value may hold (WeChat's rules).
_TEMPLATE_VALUE_RULES: dict[str, Callable[[str], bool]] = {
    "thing": lambda v: 0 < len(v) <= 20,
    "phrase": lambda v: 0 < len(v) <= 5,
    "name": lambda v: 0 < len(v) <= 10,
    "character_string": lambda v: 0 < len(v) <= 32 and v.isascii(),
    "number": lambda v: 0 < len(v) <= 32 and v.replace(".", "", 1).isdigit(),
    "time": lambda v: re.fullmatch(r"\d{4}年\d{1,2}月\d{1,2}日 \d{1,2}:\d{2}", v) is not None,
    "date": lambda v: re.fullmatch(r"\d{4}年\d{1,2}月\d{1,2}日", v) is not None,
}
_TEMPLATE_KEYWORD = re.compile(r"^([a-z_]+?)(\d+)$")


def _template_data_error(data: object) -> str | None:
    """Why WeChat would refuse ``data`` (47003), or None."""
    if not isinstance(data, dict) or not data:
        return "data"
    for keyword, item in data.items():
        match = _TEMPLATE_KEYWORD.match(str(keyword))
        rule = _TEMPLATE_VALUE_RULES.get(match.group(1)) if match else None
        value = item.get("value") if isinstance(item, dict) else None
        if rule is None or not isinstance(value, str) or not rule(value):
            return f"data.{keyword}.value"
    return None


async def subscribe_send(request: web.Request) -> web.Response:
    state = request.app[STATE]
    _arrive(state, "subscribe_send")
    if (failed := await _failing(state, "subscribe_send")) is not None:
        return failed
    token = request.query.get("access_token", "")
    if token in state.expired_tokens:
        return _errcode(42001, "access_token expired")
    if token not in state.tokens:
        return _errcode(40001, "invalid credential, access_token is invalid")
    body = await _json_body(request)
    if body is None:
        return _errcode(47001, "data format error")
    if not state.knows(body.get("touser")):
        return _errcode(40003, "invalid openid")
    if not isinstance(body.get("template_id"), str) or not body["template_id"]:
        return _errcode(40037, "invalid template_id")
    if not isinstance(body.get("page", ""), str):
        return _errcode(47003, "argument invalid! page")
    if body.get("miniprogram_state", "formal") not in ("developer", "trial", "formal"):
        return _errcode(47003, "argument invalid! miniprogram_state")
    if (where := _template_data_error(body.get("data"))) is not None:
        return _errcode(47003, f"argument invalid! {where} invalid")
    if body["touser"] in state.unsubscribed:
        return _errcode(43101, "user refuse to accept the msg")
    state.messages.append(body)
    return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": secrets.randbelow(10**12)})


def signed_push(
    state: FakeWeChatState,
    message: dict[str, Any],
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> tuple[dict[str, str], bytes]:
    """The query and body WeChat would send to push ``message`` (plain or safe mode)."""
    ts = str(int(state.now()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(5)
    query = {
        "signature": push_signature(state.push_token, ts, nonce),
        "timestamp": ts,
        "nonce": nonce,
    }
    raw = orjson.dumps(message)
    if state.push_aes_key is not None:
        cipher = PushCipher(state.push_aes_key, state.app_id or "wx-development")
        encrypted = cipher.encrypt(raw)
        query["encrypt_type"] = "aes"
        query["msg_signature"] = push_signature(state.push_token, ts, nonce, encrypted)
        raw = orjson.dumps({"ToUserName": FAKE_PUSH_USERNAME, "Encrypt": encrypted})
    return query, raw


async def push(
    session: aiohttp.ClientSession, state: FakeWeChatState, message: dict[str, Any]
) -> int:
    """POST ``message`` to the push URL as WeChat does; the HTTP status it answered."""
    if state.push_url is None:
        raise RuntimeError("no push_url to push to")
    query, raw = signed_push(state, message)
    headers = {"Content-Type": "application/json"}
    async with session.post(state.push_url, params=query, data=raw, headers=headers) as resp:
        await resp.read()
        return resp.status


def create_fake_wechat_app(state: FakeWeChatState | None = None) -> web.Application:
    app = web.Application()
    app[STATE] = state or FakeWeChatState()
    app.router.add_get("/sns/jscode2session", jscode2session)
    app.router.add_post("/cgi-bin/stable_token", stable_token)
    app.router.add_post("/wxa/msg_sec_check", msg_sec_check)
    app.router.add_post("/wxa/media_check_async", media_check_async)
    app.router.add_post("/cgi-bin/message/subscribe/send", subscribe_send)
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
