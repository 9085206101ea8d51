"""Async client for the WeChat server APIs the backend needs.

- ``code2session``: exchange a ``wx.login`` code for openid (+ session_key, which never
  leaves the server);
- ``access_token``: the app's access token from ``stable_token``, shared by every process
  through Redis (one fetch at a time, under a Redis lock: processes fetching on their
  own would each replace the token the others hold);
- ``msg_sec_check``: text content security (v2), read through ``result.suggest``;
- ``media_check_async``: image content security (v2); the verdict arrives later at our
  message-push endpoint (``server/wechat_push.py`` verifies it);
- ``send_subscribe_message``: a subscribe message (订阅消息) to a user, for the
  outbox (``handlers/messages``), which decides what each answer means.

A call rejected for its token (40001/42001/40014) refreshes it once and is retried once;
callers who saw the same stale token share that one refresh. The base URL is
configurable so tests and development mode talk to our fake server.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import aiohttp
import orjson

from server.clock import Clock
from server.degrade import Degrade
from server.errors import REDIS_UNAVAILABLE, AppError, Forbidden, RateLimited, Unavailable
from server.redis_state import RedisState
from server.singleflight import SingleFlight

# code2session errcodes that mean the code itself is bad (invalid, used, expired).
_BAD_CODE_ERRCODES = {40029, 40163}
_QUOTA_ERRCODE = 45011  # the per-minute call quota: the client may try again next minute
_RISKY_USER_ERRCODE = 40226  # WeChat's 高风险等级用户: refused until WeChat says otherwise
_TOKEN_ERRCODES = {40001, 42001, 40014}  # invalid, expired, malformed access token
MiniprogramState = Literal["formal", "trial", "developer"]
_TOKEN_KEY = ("wechat", "access-token")
_TOKEN_LOCK_KEY = ("wechat", "access-token-lock")
_TOKEN_MARGIN_S = 300  # stop using a token 5 minutes before WeChat says it expires
_LOCK_POLL_S = 0.02
# Deletes the lock only if it is still ours (it may have expired and been taken since).
_UNLOCK_SCRIPT = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)

Suggest = Literal["pass", "review", "risky"]
# msgSecCheck / mediaCheckAsync scenes: 1 资料 (profile), 2 评论, 3 论坛, 4 社交日志.
Scene = Literal[1, 2, 3, 4]


class WeChatCodeInvalid(AppError):
    status = 401
    code = "wechat_code_invalid"
    message = "微信登录凭证无效或已过期，请重新登录"


class WeChatUserRisky(Forbidden):
    code = "wechat_user_risky"
    message = "微信判定该账号存在安全风险，暂时无法登录"


class WeChatUnavailable(Unavailable):
    """WeChat did not answer, or answered with an error we cannot act on: 503."""


class ContentRejected(AppError):
    status = 422
    code = "content_rejected"
    message = "内容未通过安全检查，请修改后再发"


class OpenidLookup(Protocol):
    """Who a user is to WeChat (set by the auth room); None for accounts without one."""

    async def openid_of(self, user_id: str) -> str | None: ...


def errcode_of(data: dict[str, Any]) -> int | None:
    """The answer's ``errcode`` (0 when absent); None when it is not an integer at all."""
    raw = data.get("errcode")
    if raw is None:
        return 0
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.isascii() and raw.lstrip("-").isdigit() and len(raw) < 12:
        return int(raw)
    return None


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        return value.decode()
    return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class WeChatSession:
    openid: str
    session_key: str
    unionid: str | None


@dataclass(frozen=True, slots=True)
class ContentCheck:
    suggest: Suggest
    label: int


class WeChatClient:
    def __init__(
        self,
        app_id: str,
        app_secret: str,
        base_url: str,
        timeout_s: float,
        *,
        redis: RedisState,
        degrade: Degrade,
        clock: Clock,
    ) -> None:
        self.app_id = app_id
        self.redis = redis
        self.degrade = degrade
        self.clock = clock
        self._app_secret = app_secret
        self.base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        # This process's copy, used only while Redis does not answer.
        self._local_token: tuple[str, float] | None = None
        self._refreshes: SingleFlight[str] = SingleFlight()

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=self._timeout, raise_for_status=False)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _call(
        self, method: str, path: str, *, params: dict[str, str], json: Any = None
    ) -> dict[str, Any]:
        if self._session is None:
            raise RuntimeError("WeChatClient.start() was not awaited")
        try:
            async with self._session.request(
                method, self.base_url + path, params=params, json=json
            ) as resp:
                status = resp.status
                raw = await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            # The URL carries the app secret or token: the failure kind only (degrade).
            self.degrade.wechat(path, exc)
            raise WeChatUnavailable("微信服务暂时不可用，请稍后再试") from None
        if status >= 500:
            self.degrade.wechat(path, f"HTTP {status}")
            raise WeChatUnavailable("微信服务暂时不可用，请稍后再试")
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            self.degrade.wechat(path, "not a JSON object")
            raise WeChatUnavailable("微信服务暂时不可用，请稍后再试")
        return data

    def _failed(self, path: str, data: dict[str, Any], message: str) -> WeChatUnavailable:
        self.degrade.wechat(path, f"errcode={str(data.get('errcode'))[:16]!r}")
        return WeChatUnavailable(message)

    # -- sign-in ------------------------------------------------------------------------

    async def code2session(self, code: str) -> WeChatSession:
        path = "/sns/jscode2session"
        data = await self._call(
            "GET",
            path,
            params={
                "appid": self.app_id,
                "secret": self._app_secret,
                "js_code": code,
                "grant_type": "authorization_code",
            },
        )
        errcode = errcode_of(data)
        if errcode in _BAD_CODE_ERRCODES:
            raise WeChatCodeInvalid()
        if errcode == _RISKY_USER_ERRCODE:
            raise WeChatUserRisky()
        if errcode == _QUOTA_ERRCODE:
            # The quota counts per minute: the next one starts at the next full minute.
            raise RateLimited(60 - int(self.clock.timestamp()) % 60, "登录太频繁，请稍后再试")
        if errcode != 0 or not data.get("openid") or not data.get("session_key"):
            raise self._failed(path, data, "微信登录暂时不可用，请稍后再试")
        return WeChatSession(
            openid=str(data["openid"]),
            session_key=str(data["session_key"]),
            unionid=str(data["unionid"]) if data.get("unionid") else None,
        )

    # -- the access token, shared through Redis ---------------------------------------

    async def access_token(self) -> str:
        """The app access token: the one in Redis, or a fresh one if there is none."""
        try:
            token = await self.redis.client.get(self.redis.key(*_TOKEN_KEY))
        except REDIS_UNAVAILABLE as exc:
            self.degrade.redis("wechat_token", exc)
            token = None
            if self._local_token and self._local_token[1] > self.clock.monotonic():
                return self._local_token[0]
        return _text(token) or await self.refresh_token(stale=None)

    async def refresh_token(self, stale: str | None) -> str:
        """A token other than ``stale``; callers who saw the same stale one (in this
        process: SingleFlight; in every process: the Redis lock) share one fetch."""
        return await self._refreshes.run(("token", stale), lambda: self._refresh(stale))

    async def _refresh(self, stale: str | None) -> str:
        try:
            return await self._refresh_shared(stale)
        except REDIS_UNAVAILABLE as exc:
            # Without Redis, each process keeps its own (stable_token does not revoke
            # the others' tokens, so this degrades to more fetches, not to failures).
            self.degrade.redis("wechat_token", exc)
            local = self._local_token
            if local and local[0] != stale and local[1] > self.clock.monotonic():
                return local[0]
            token, _ = await self._fetch_token()
            return token

    async def _refresh_shared(self, stale: str | None) -> str:
        client = self.redis.client
        key, lock_key = self.redis.key(*_TOKEN_KEY), self.redis.key(*_TOKEN_LOCK_KEY)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2 * self._timeout_s
        lock_ms = int(2000 * self._timeout_s)
        while True:
            current = _text(await client.get(key))
            if current and current != stale:
                return current  # another process (or caller) refreshed it
            owner = secrets.token_hex(8)
            if await client.set(lock_key, owner, nx=True, px=lock_ms):
                try:
                    current = _text(await client.get(key))
                    if current and current != stale:
                        return current
                    token, ttl_s = await self._fetch_token()
                    await client.set(key, token, ex=ttl_s)
                    return token
                finally:
                    await self._unlock(lock_key, owner)
            if loop.time() >= deadline:
                raise WeChatUnavailable("微信服务暂时不可用，请稍后再试")
            await asyncio.sleep(_LOCK_POLL_S)  # another process is fetching it

    async def _unlock(self, lock_key: str, owner: str) -> None:
        result = self.redis.client.eval(_UNLOCK_SCRIPT, 1, lock_key, owner)
        if isinstance(result, Awaitable):
            await result

    async def _fetch_token(self) -> tuple[str, int]:
        """A token from ``stable_token`` (which does not revoke the tokens others hold)."""
        path = "/cgi-bin/stable_token"
        data = await self._call(
            "POST",
            path,
            params={},
            json={
                "grant_type": "client_credential",
                "appid": self.app_id,
                "secret": self._app_secret,
                "force_refresh": False,
            },
        )
        token = data.get("access_token")
        if errcode_of(data) != 0 or not token or not isinstance(token, str):
            raise self._failed(path, data, "微信服务暂时不可用，请稍后再试")
        expires_in = data.get("expires_in")
        ttl_s = expires_in if isinstance(expires_in, int) and expires_in > 0 else 7200
        ttl_s = max(60, ttl_s - _TOKEN_MARGIN_S)
        self._local_token = (token, self.clock.monotonic() + ttl_s)
        return token, ttl_s

    async def _with_token(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``body`` with the access token; once more after one refresh if WeChat
        says the token is invalid or expired."""
        token = await self.access_token()
        data = await self._call("POST", path, params={"access_token": token}, json=body)
        if errcode_of(data) in _TOKEN_ERRCODES:
            token = await self.refresh_token(stale=token)
            data = await self._call("POST", path, params={"access_token": token}, json=body)
        return data

    # -- content security ---------------------------------------------------------------

    async def msg_sec_check(self, content: str, openid: str, scene: Scene = 2) -> ContentCheck:
        """Text security v2: ``pass``, ``review`` (a person decides) or ``risky``.

        WeChat unreachable or refusing the call (40003 bad openid, 61010 the user has
        not opened the mini-program lately, 43104 openid of another app...):
        ``WeChatUnavailable``, which callers holding user content turn into "pending".
        """
        path = "/wxa/msg_sec_check"
        data = await self._with_token(
            path, {"content": content, "version": 2, "scene": scene, "openid": openid}
        )
        if errcode_of(data) != 0:
            raise self._failed(path, data, "内容安全检查暂时不可用，请稍后再试")
        result = data.get("result")
        suggest = result.get("suggest") if isinstance(result, dict) else None
        if suggest not in ("pass", "review", "risky"):
            self.degrade.wechat(path, "no suggest in the answer")
            raise WeChatUnavailable("内容安全检查暂时不可用，请稍后再试")
        label = result.get("label") if isinstance(result, dict) else 0
        return ContentCheck(suggest=suggest, label=label if isinstance(label, int) else 0)

    async def media_check_async(self, media_url: str, openid: str, scene: Scene) -> str:
        """Image security v2 (media_type 2): WeChat fetches ``media_url`` and pushes its
        verdict to our message-push endpoint later; returns the ``trace_id`` it will carry."""
        path = "/wxa/media_check_async"
        body = {
            "media_url": media_url,
            "media_type": 2,
            "version": 2,
            "scene": scene,
            "openid": openid,
        }
        data = await self._with_token(path, body)
        trace_id = data.get("trace_id")
        if errcode_of(data) != 0 or not isinstance(trace_id, str) or not trace_id:
            raise self._failed(path, data, "内容安全检查暂时不可用，请稍后再试")
        return trace_id

    # -- subscribe messages ------------------------------------------------------------

    async def send_subscribe_message(
        self,
        openid: str,
        template_id: str,
        page: str,
        data: dict[str, str],
        miniprogram_state: MiniprogramState,
    ) -> int:
        """``subscribeMessage.send``; WeChat's errcode (0: sent, 43101: the user has not
        subscribed, or used up their one-time subscription). ``WeChatUnavailable`` when
        WeChat did not answer (the message may or may not have gone out)."""
        body = {
            "touser": openid,
            "template_id": template_id,
            "page": page,
            "data": {keyword: {"value": value} for keyword, value in data.items()},
            "miniprogram_state": miniprogram_state,
            "lang": "zh_CN",
        }
        data_in = await self._with_token("/cgi-bin/message/subscribe/send", body)
        errcode = errcode_of(data_in)
        return -1 if errcode is None else errcode
