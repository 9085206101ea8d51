"""The console's cookie session and its CSRF tokens (the sign-in half of ``HtmlSide``).

**The session.** Signing in (the staff password, through the API's own sign-in throttle)
starts a session in ``sessions`` like any sign-in: logout, a password reset and erasure
revoke it the same way. The cookie ``jx_console`` (``Path=/admin``, ``HttpOnly``,
``SameSite=Strict``, ``Secure`` outside development) holds a token signed for its own
purpose (``server/signing.py``, ``CONSOLE_SESSION``): the session id, the account, its
roles and name, when the session was last read from MongoDB, and the session's end.
Every page renews it (the idle timeout slides: ``CONSOLE_IDLE_TIMEOUT_S`` without a
request and the token has expired) and checks the session as an access token is
checked (the revocation marker in Redis, else MongoDB); once ``ACCESS_TOKEN_TTL_S`` has
passed since the session was last read from MongoDB (as long as revocation markers
live) it is read again, with the account's current roles. So a console session is
never refreshed by rotation (parallel requests of one browser could not share that)
and holds no refresh token. ``CONSOLE_SESSION_MAX_S`` ends it whatever happens.

**CSRF.** Every form carries ``csrf_token``, an HMAC (purpose ``CONSOLE_CSRF``) of the
session id, or, signed out (the sign-in form), of a random value in the cookie
``jx_console_form``; scripts send it as ``X-CSRF-Token``, and a file upload's form in its
action's query string (its body is streamed to the handler, not read beforehand). The
middleware refuses an unsafe request without the right one (403 ``csrf_invalid``),
whatever ``SameSite`` already does.
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from config.settings import Settings
from handlers.auth.repo import UserRecord
from handlers.auth.service import AuthService
from server.api import CONSOLE_PREFIX
from server.clock import Clock
from server.errors import AppError, Forbidden
from server.middleware import client_ip
from server.principal import Principal, Role
from server.signing import CONSOLE_CSRF, CONSOLE_SESSION, Signer

SESSION_COOKIE = "jx_console"
FORM_COOKIE = "jx_console_form"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
FORM_COOKIE_MAX_AGE_S = 86400


class CsrfInvalid(Forbidden):
    code = "csrf_invalid"
    message = "页面已过期或来源不明，请刷新页面后重试"


class FormUnreadable(AppError):
    status = 400
    code = "invalid_request"
    message = "表单内容无法读取"


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """What the cookie says (signed), once checked."""

    session_id: str
    user_id: str
    roles: frozenset[Role]
    name: str
    checked: int  # Unix seconds: the session was last read from MongoDB then
    until: int  # Unix seconds: the session's end, whatever happens

    def payload(self) -> dict[str, Any]:
        return {
            "sid": self.session_id,
            "uid": self.user_id,
            "roles": sorted(self.roles),
            "name": self.name,
            "chk": self.checked,
            "until": self.until,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any] | None) -> ConsoleSession | None:
        if payload is None:
            return None
        try:
            return cls(
                session_id=str(payload["sid"]),
                user_id=str(payload["uid"]),
                roles=frozenset(Role(role) for role in payload["roles"]),
                name=str(payload["name"]),
                checked=int(payload["chk"]),
                until=int(payload["until"]),
            )
        except (KeyError, TypeError, ValueError):  # signed by us, but not this shape
            return None


_SESSION = web.RequestKey("console_session", ConsoleSession)
_COOKIE_OUT = web.RequestKey("console_cookie_out", str)  # "" clears it
_FORM_NONCE_OUT = web.RequestKey("console_form_nonce_out", str)  # "" clears it


def display_name(user: UserRecord) -> str:
    return user.nickname or user.username or user.id


class ConsoleSessions:
    def __init__(self, settings: Settings, auth: AuthService, signer: Signer, clock: Clock):
        self.auth = auth
        self.clock = clock
        self.trusted_proxies = settings.trusted_proxy_networks
        self.idle_s = settings.console_idle_timeout_s
        self.max_s = settings.console_session_max_s
        self.recheck_s = settings.access_token_ttl_s  # as long as revocation markers live
        self.secure = settings.app_env != "development"
        self._tokens = signer.for_purpose(CONSOLE_SESSION)
        self._csrf = signer.for_purpose(CONSOLE_CSRF)

    # -- the session ------------------------------------------------------------------

    def _token(self, session: ConsoleSession, now: float) -> str:
        return self._tokens.dumps(session.payload(), min(int(now) + self.idle_s, session.until))

    def _issue(self, request: web.Request, session: ConsoleSession, now: float) -> None:
        request[_SESSION] = session
        request[_COOKIE_OUT] = self._token(session, now)

    def _drop(self, request: web.Request) -> None:
        request[_COOKIE_OUT] = ""

    async def authenticate(self, request: web.Request) -> Principal | None:
        """The staff member of the session cookie; None (and the cookie cleared) when it
        is forged, idle past the timeout, past its end, revoked, or its account gone."""
        raw = request.cookies.get(SESSION_COOKIE)
        if raw is None:
            return None
        now = self.clock.timestamp()
        session = ConsoleSession.from_payload(self._tokens.loads(raw, now))
        if session is None:
            self._drop(request)
            return None
        if now - session.checked >= self.recheck_s:
            user = await self.auth.live_session_user(session.session_id)
            if user is None or user.id != session.user_id:
                self._drop(request)
                return None
            session = dataclasses.replace(
                session, roles=frozenset(user.roles), name=display_name(user), checked=int(now)
            )
        elif await self.auth.session_revoked(session.session_id):
            self._drop(request)
            return None
        self._issue(request, session, now)
        return Principal(session.user_id, session.session_id, session.roles, "console")

    async def sign_in(self, request: web.Request, username: str, password: str) -> None:
        """A new session for the staff member whose password this is (401
        ``invalid_credentials``, 429 past the sign-in throttle); its cookie goes out with
        the answer. A session the browser held before is left for its own timeout."""
        ip = client_ip(request, self.trusted_proxies)
        user = await self.auth.verify_staff_password(username, password, ip)
        session, now = await self._start(user)
        self._issue(request, session, now)
        request[_FORM_NONCE_OUT] = ""  # the sign-in form's binding has done its work

    async def _start(self, user: UserRecord) -> tuple[ConsoleSession, float]:
        session_id = await self.auth.start_cookie_session(user, self.max_s)
        now = self.clock.timestamp()
        session = ConsoleSession(
            session_id=session_id,
            user_id=user.id,
            roles=frozenset(user.roles),
            name=display_name(user),
            checked=int(now),
            until=int(now) + self.max_s,
        )
        return session, now

    async def cookie_for(self, user: UserRecord) -> str:
        """A new session of ``user`` and the cookie value that carries it, without a
        password (the authorisation matrix gives every account one, residents too)."""
        session, now = await self._start(user)
        return self._token(session, now)

    async def sign_out(self, request: web.Request) -> None:
        """End the request's session (revoked like an API logout) and clear its cookie."""
        session = request.get(_SESSION)
        self._drop(request)
        request.pop(_SESSION, None)
        if session is not None:
            await self.auth.revoke_session(session.session_id, "logout")

    def current(self, request: web.Request) -> ConsoleSession | None:
        """The request's checked session, if it has one."""
        return request.get(_SESSION)

    # -- CSRF ---------------------------------------------------------------------------

    def _binding(self, request: web.Request, *, make: bool) -> str | None:
        """What this browser's tokens are bound to: its session, else its form cookie
        (made when ``make``, for a page that shows a form to someone signed out)."""
        session = request.get(_SESSION)
        if session is not None:
            return f"session:{session.session_id}"
        nonce = request.get(_FORM_NONCE_OUT) or request.cookies.get(FORM_COOKIE)
        if not nonce and make:
            nonce = request[_FORM_NONCE_OUT] = secrets.token_urlsafe(16)
        return f"form:{nonce}" if nonce else None

    def csrf_token(self, request: web.Request) -> str:
        """The token the page's forms carry."""
        return self._csrf.sign(self._binding(request, make=True) or "")

    async def check_csrf(self, request: web.Request, principal: Principal | None) -> None:
        sent: object = request.headers.get(CSRF_HEADER)
        if sent is None and request.content_type == "multipart/form-data":
            # A file upload: its body is streamed to the handler (and capped there), never
            # read here, so the form puts its token in its action's query string.
            sent = request.query.get(CSRF_FIELD)
        elif sent is None and request.content_type == "application/x-www-form-urlencoded":
            try:
                form = await request.post()  # kept by aiohttp: the handler reads it again
            except ValueError:
                raise FormUnreadable() from None
            sent = form.get(CSRF_FIELD)
        binding = self._binding(request, make=False)
        if binding is None or not self._csrf.verify(binding, sent):
            raise CsrfInvalid()

    # -- the answer -----------------------------------------------------------------------

    def finish(self, request: web.Request, response: web.StreamResponse) -> None:
        """The renewed (or cleared) session cookie and the sign-in form's cookie."""
        self._cookie(response, SESSION_COOKIE, request.get(_COOKIE_OUT), None)
        self._cookie(response, FORM_COOKIE, request.get(_FORM_NONCE_OUT), FORM_COOKIE_MAX_AGE_S)

    def _cookie(
        self, response: web.StreamResponse, name: str, value: str | None, max_age: int | None
    ) -> None:
        """Set ``value`` (None: leave the cookie as it is; "": delete it)."""
        if value is None:
            return
        path, secure = CONSOLE_PREFIX, self.secure
        if value:
            response.set_cookie(name, value, path=path, max_age=max_age, httponly=True,
                                samesite="Strict", secure=secure)  # fmt: skip
        else:
            response.del_cookie(name, path=path, httponly=True, samesite="Strict", secure=secure)
