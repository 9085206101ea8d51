"""Access JWTs (HS256 pinned; iss, aud, exp, iat, jti, sub, sid required) and refresh tokens."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

import jwt

from server.clock import Clock
from server.errors import Unauthorized
from server.principal import Role

ALGORITHM = "HS256"
_REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti", "sid", "typ"]
LEEWAY_S = 5
VERIFIED_TOKENS_MAX = 20_000
"""Access tokens a process remembers as verified (a few MB): a signed-in reader's token
is checked once, not on every request."""


class TokenInvalid(Unauthorized):
    code = "token_invalid"
    message = "登录已失效，请重新登录"


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: str
    session_id: str
    roles: frozenset[Role]
    token_id: str


class AccessTokenCodec:
    """``key`` is the access-token key of ``server.signing`` (derived from the root secret);
    times are checked against ``clock``, not PyJWT's own reading of the time."""

    def __init__(self, key: bytes, issuer: str, audience: str, ttl_s: int, clock: Clock) -> None:
        self._key = key
        self.issuer = issuer
        self.audience = audience
        self.ttl_s = ttl_s
        self.clock = clock
        # token -> its claims, iat, exp. Only tokens whose signature and claims held are
        # kept (a forged one never is), so the same bytes verify the same way again;
        # the times are checked on every use, against the clock. The oldest goes first.
        self._verified: dict[str, tuple[AccessClaims, float, float]] = {}

    def issue(self, user_id: str, session_id: str, roles: list[Role]) -> str:
        now = int(self.clock.timestamp())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": user_id,
            "sid": session_id,
            "roles": [str(role) for role in roles],
            "typ": "access",
            "iat": now,
            "exp": now + self.ttl_s,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def decode(self, token: str) -> AccessClaims:
        """Verified claims; any defect (alg, signature, audience, expiry, shape) is a 401."""
        held = self._verified.get(token)
        if held is not None:
            claims, issued, expires = held
            now = self.clock.timestamp()
            if issued <= now + LEEWAY_S and expires > now - LEEWAY_S:
                return claims
            del self._verified[token]  # out of its time: decoded again, for the right 401
        claims, issued, expires = self._verify(token)
        if len(self._verified) >= VERIFIED_TOKENS_MAX:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = (claims, issued, expires)
        return claims

    def _verify(self, token: str) -> tuple[AccessClaims, float, float]:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={
                    "require": _REQUIRED_CLAIMS,
                    "verify_exp": False,  # checked below, on our clock
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
            if claims["typ"] != "access":
                raise TokenInvalid()
            expires, issued = claims["exp"], claims["iat"]
            if not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in (expires, issued)
            ):
                raise TokenInvalid()
            now = self.clock.timestamp()
            if issued > now + LEEWAY_S:
                raise TokenInvalid()  # issued in the future: not by us
            if expires <= now - LEEWAY_S:
                raise jwt.ExpiredSignatureError()
            roles = frozenset(Role(role) for role in claims.get("roles", []))
            verified = AccessClaims(
                user_id=str(claims["sub"]),
                session_id=str(claims["sid"]),
                roles=roles,
                token_id=str(claims["jti"]),
            )
            return verified, issued, expires
        except jwt.ExpiredSignatureError:
            raise TokenInvalid(code="token_expired", message="登录已过期，请刷新令牌") from None
        except (jwt.InvalidTokenError, ValueError, TypeError):
            raise TokenInvalid() from None


def new_refresh_token(session_id: str) -> str:
    """``<session id>.<secret>``: the session id lets rotation find its family."""
    return f"{session_id}.{secrets.token_urlsafe(32)}"


def split_refresh_token(token: str) -> str | None:
    """The session id inside a refresh token, or None if it has the wrong shape."""
    session_id, dot, secret = token.partition(".")
    if not dot or len(session_id) != 32 or len(secret) < 20:
        return None
    return session_id


def hash_token(token: str) -> str:
    # Only hashes are stored: a database leak does not hand out live refresh tokens.
    return hashlib.sha256(token.encode()).hexdigest()


def new_session_id() -> str:
    return uuid.uuid4().hex
