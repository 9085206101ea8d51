"""Async client for the WeChat server APIs the backend needs.

- ``code2session``: exchange a ``wx.login`` code for openid (+ session_key, which never
  leaves the server);
- ``stable_token``: the app's access token, cached per process until shortly before expiry;
- ``msg_sec_check``: text content security (v2), read through ``result.suggest``.
The base URL is configurable so tests and development mode talk to our fake server.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
import orjson

from server.clock import Clock
from server.degrade import Degrade
from server.errors import AppError, Unavailable

# code2session errcodes that mean the code itself is bad (invalid, used, expired).
_BAD_CODE_ERRCODES = {40029, 40163, 40226}
_TOKEN_ERRCODES = {40001, 42001, 40014}

Suggest = Literal["pass", "review", "risky"]


class WeChatCodeInvalid(AppError):
    status = 401
    code = "wechat_code_invalid"
    message = "微信登录凭证无效或已过期，请重新登录"


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
        degrade: Degrade,
        clock: Clock,
    ) -> None:
        self.app_id = app_id
        self.degrade = degrade
        self.clock = clock
        self._app_secret = app_secret
        self.base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._token: tuple[str, float] | None = None
        self._token_lock = asyncio.Lock()

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
            raise Unavailable("微信服务暂时不可用，请稍后再试") from None
        if status >= 500:
            self.degrade.wechat(path, f"HTTP {status}")
            raise Unavailable("微信服务暂时不可用，请稍后再试")
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            self.degrade.wechat(path, "not a JSON object")
            raise Unavailable("微信服务暂时不可用，请稍后再试")
        return data

    async def code2session(self, code: str) -> WeChatSession:
        data = await self._call(
            "GET",
            "/sns/jscode2session",
            params={
                "appid": self.app_id,
                "secret": self._app_secret,
                "js_code": code,
                "grant_type": "authorization_code",
            },
        )
        errcode = int(data.get("errcode") or 0)
        if errcode in _BAD_CODE_ERRCODES:
            raise WeChatCodeInvalid()
        if errcode != 0 or not data.get("openid") or not data.get("session_key"):
            self.degrade.wechat("/sns/jscode2session", f"errcode={errcode}")
            raise Unavailable("微信登录暂时不可用，请稍后再试")
        return WeChatSession(
            openid=str(data["openid"]),
            session_key=str(data["session_key"]),
            unionid=str(data["unionid"]) if data.get("unionid") else None,
        )

    async def access_token(self, *, force_refresh: bool = False) -> str:
        """The app access token from ``stable_token`` (which does not revoke other workers')."""
        async with self._token_lock:
            if self._token and not force_refresh and self._token[1] > self.clock.monotonic():
                return self._token[0]
            data = await self._call(
                "POST",
                "/cgi-bin/stable_token",
                params={},
                json={
                    "grant_type": "client_credential",
                    "appid": self.app_id,
                    "secret": self._app_secret,
                    "force_refresh": False,
                },
            )
            token = data.get("access_token")
            if not token:
                self.degrade.wechat("/cgi-bin/stable_token", f"errcode={data.get('errcode')}")
                raise Unavailable("微信服务暂时不可用，请稍后再试")
            expires_in = int(data.get("expires_in") or 7200)
            self._token = (str(token), self.clock.monotonic() + max(60, expires_in - 300))
            return self._token[0]

    async def msg_sec_check(self, content: str, openid: str, scene: int = 2) -> ContentCheck:
        """Text security v2: ``pass``, ``review`` (a person decides) or ``risky``."""
        for attempt in range(2):
            token = await self.access_token(force_refresh=attempt > 0)
            data = await self._call(
                "POST",
                "/wxa/msg_sec_check",
                params={"access_token": token},
                json={"content": content, "version": 2, "scene": scene, "openid": openid},
            )
            errcode = int(data.get("errcode") or 0)
            if errcode in _TOKEN_ERRCODES and attempt == 0:
                continue
            if errcode != 0:
                self.degrade.wechat("/wxa/msg_sec_check", f"errcode={errcode}")
                raise Unavailable("内容安全检查暂时不可用，请稍后再试")
            result = data.get("result") or {}
            suggest = result.get("suggest")
            if suggest not in ("pass", "review", "risky"):
                self.degrade.wechat("/wxa/msg_sec_check", "no suggest in the answer")
                raise Unavailable("内容安全检查暂时不可用，请稍后再试")
            return ContentCheck(suggest=suggest, label=int(result.get("label") or 0))
        raise Unavailable("内容安全检查暂时不可用，请稍后再试")
