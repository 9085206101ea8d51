"""The one signing module: HMAC-SHA256 with a key per purpose, derived from one root secret.

Each purpose (access tokens, photo URLs, join codes, tickets, console CSRF tokens) gets
its own key, derived with HKDF (RFC 5869) from the deployment's root secret
(``JWT_SECRET``): a signature made for one purpose never verifies for another, and
the root secret itself signs nothing.

Verification takes what came from outside as it came (``object``): anything that is not
the ASCII we issued (non-ASCII, ``exp=²``, a number past any date, the wrong length) is
simply "not valid", never an exception, so a route answers 404/422, not 500.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

import orjson

# The purposes in use; a new one is a new constant here (its key comes for free).
ACCESS_TOKEN = "access-token"  # noqa: S105 (a purpose name, not a secret)
MEDIA_URL = "media-url"
JOIN_CODE = "join-code"
CONSOLE_SESSION = "console-session"  # the staff console's session cookie
CONSOLE_CSRF = "console-csrf"  # its forms' CSRF tokens

_SIGNATURE_BYTES = 18  # 144 bits, 24 URL-safe characters, no padding
_MAX_EXPIRES_DIGITS = 12  # Unix seconds up to the year 33658: enough, and bounded
_MAX_TOKEN_CHARS = 4096


def hkdf_sha256(root: bytes, info: bytes, length: int = 32, salt: bytes = b"") -> bytes:
    """HKDF-Extract then -Expand (RFC 5869) with SHA-256."""
    prk = hmac.new(salt or b"\x00" * 32, root, hashlib.sha256).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
        counter += 1
    return okm[:length]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_expires(value: object) -> int | None:
    """A Unix time as we write it (ASCII digits, bounded), else None."""
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        return None  # "²".isdigit() is True, but it is not ASCII
    if len(value) > _MAX_EXPIRES_DIGITS:
        return None
    return int(value)


class PurposeSigner:
    """Signs and verifies messages for one purpose."""

    def __init__(self, purpose: str, key: bytes) -> None:
        self.purpose = purpose
        self._key = key

    def sign(self, message: str) -> str:
        digest = hmac.new(self._key, message.encode(), hashlib.sha256).digest()
        return _b64(digest[:_SIGNATURE_BYTES])

    def verify(self, message: str, signature: object) -> bool:
        if not isinstance(signature, str) or not signature.isascii():
            return False
        return hmac.compare_digest(self.sign(message), signature)

    def sign_expiring(self, message: str, expires: int) -> str:
        """A signature of ``message`` that is valid until the Unix time ``expires``."""
        return self.sign(f"{message}/{expires}")

    def verify_expiring(self, message: str, expires: object, signature: object, now: float) -> bool:
        """``signature`` was made by ``sign_expiring(message, expires)`` and ``now`` is
        not past ``expires`` (``expires`` as it came in the URL: text)."""
        when = parse_expires(expires)
        if when is None or when < now:
            return False
        return self.verify(f"{message}/{when}", signature)

    def dumps(self, payload: dict[str, Any], expires: int) -> str:
        """A self-contained token ``<payload>.<signature>`` valid until ``expires``."""
        body = _b64(orjson.dumps({"p": payload, "exp": expires}))
        return f"{body}.{self.sign(body)}"

    def loads(self, token: object, now: float) -> dict[str, Any] | None:
        """The payload of a token made by ``dumps``; None if forged, malformed or expired."""
        if not isinstance(token, str) or len(token) > _MAX_TOKEN_CHARS or not token.isascii():
            return None
        body, _, signature = token.rpartition(".")
        if not body or not self.verify(body, signature):
            return None
        try:
            data = orjson.loads(_unb64(body))
        except (binascii.Error, ValueError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("p"), dict):
            return None
        expires = data.get("exp")
        if not isinstance(expires, int) or expires < now:
            return None
        payload: dict[str, Any] = data["p"]
        return payload


class Signer:
    """The root secret, and the per-purpose signers derived from it."""

    def __init__(self, root_secret: str | bytes) -> None:
        self._root = root_secret.encode() if isinstance(root_secret, str) else root_secret
        self._signers: dict[str, PurposeSigner] = {}

    def key(self, purpose: str) -> bytes:
        """The 32-byte key of ``purpose`` (for libraries that take a key: PyJWT)."""
        return hkdf_sha256(self._root, b"jiangxin:" + purpose.encode())

    def for_purpose(self, purpose: str) -> PurposeSigner:
        signer = self._signers.get(purpose)
        if signer is None:
            signer = self._signers[purpose] = PurposeSigner(purpose, self.key(purpose))
        return signer
