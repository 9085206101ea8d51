"""WeChat message push (消息推送): what proves a push comes from WeChat.

Plain mode (明文模式): the query carries ``signature`` = sha1 of the sorted
``[token, timestamp, nonce]``; it does not cover the body, so replays within the clock
window are refused by the caller (nonce and ``trace_id`` seen before). Safe mode
(安全模式): the JSON body is ``{"ToUserName", "Encrypt"}``; ``msg_signature`` = sha1 of
the sorted ``[token, timestamp, nonce, Encrypt]``, and ``Encrypt`` is AES-256-CBC with
the key ``base64(EncodingAESKey + "=")`` and its first 16 bytes as IV, PKCS#7-padded
to 32-byte blocks, over ``random(16) + len(msg) (4 bytes, big-endian) + msg + appid``.
With an EncodingAESKey configured, plain pushes are refused (no downgrade).
The GET that WeChat sends when the URL is configured echoes ``echostr`` back.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from server.errors import AppError

_BLOCK = 32  # WeChat pads to 32 bytes, not AES's 16
_MAX_ENCRYPTED_CHARS = 64 * 1024


class PushRejected(AppError):
    status = 403
    code = "wechat_push_rejected"
    message = "推送签名无效"


def push_signature(token: str, timestamp: str, nonce: str, *more: str) -> str:
    """sha1 of the sorted parts, hex: ``signature`` (3 parts) or ``msg_signature`` (4)."""
    return hashlib.sha1("".join(sorted((token, timestamp, nonce, *more))).encode()).hexdigest()  # noqa: S324 (WeChat's scheme)


class PushCipher:
    """The safe-mode envelope for one EncodingAESKey (43 characters) and app id."""

    def __init__(self, encoding_aes_key: str, app_id: str) -> None:
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(encoding_aes_key) != 43 or len(key) != 32:
            raise ValueError("an EncodingAESKey is 43 base64 characters (32 bytes)")
        self._key = key
        self._app_id = app_id.encode()

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def encrypt(self, message: bytes, random16: bytes | None = None) -> str:
        plain = (random16 or secrets.token_bytes(16)) + struct.pack(">I", len(message))
        plain += message + self._app_id
        pad = _BLOCK - len(plain) % _BLOCK
        plain += bytes([pad]) * pad
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()

    def decrypt(self, encrypted: str) -> bytes:
        """The message, or ``PushRejected`` (not base64, bad padding, another app's)."""
        try:
            data = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise PushRejected() from None
        if not data or len(data) % 16:
            raise PushRejected()
        decryptor = self._cipher().decryptor()
        plain = decryptor.update(data) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= _BLOCK or plain[-pad:] != bytes([pad]) * pad or len(plain) < 20 + pad:
            raise PushRejected()
        plain = plain[:-pad]
        (length,) = struct.unpack(">I", plain[16:20])
        message, app_id = plain[20 : 20 + length], plain[20 + length :]
        if len(message) != length or not hmac.compare_digest(app_id, self._app_id):
            raise PushRejected()
        return message


@dataclass(frozen=True, slots=True)
class PushMessage:
    """A verified push: its JSON, and what identifies it for replay checks."""

    body: dict[str, Any]
    nonce: str
    timestamp: int


class PushVerifier:
    def __init__(self, token: str, cipher: PushCipher | None, max_skew_s: int) -> None:
        self._token = token
        self._cipher = cipher
        self.max_skew_s = max_skew_s

    @property
    def configured(self) -> bool:
        return bool(self._token)

    def _check(self, query: Mapping[str, str], now: float, *more: str) -> tuple[str, int]:
        """(nonce, timestamp) once the query's signature and clock check out."""
        if not self._token:
            raise PushRejected("未配置消息推送")
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            raise PushRejected()
        if abs(int(timestamp) - now) > self.max_skew_s or not nonce or len(nonce) > 64:
            raise PushRejected()
        name = "msg_signature" if more else "signature"
        expected = push_signature(self._token, timestamp, nonce, *more)
        if not hmac.compare_digest(query.get(name, "").encode(), expected.encode()):
            raise PushRejected()
        return nonce, int(timestamp)

    def echo(self, query: Mapping[str, str], now: float) -> str:
        """The ``echostr`` of WeChat's URL check (GET), once its signature is right."""
        self._check(query, now)
        return query.get("echostr", "")

    def open(self, query: Mapping[str, str], raw: bytes, now: float) -> PushMessage:
        """The pushed JSON message, verified (and decrypted in safe mode)."""
        body = _json_object(raw)
        encrypted = body.get("Encrypt")
        if self._cipher is None:
            if encrypted is not None:
                raise PushRejected("未配置消息加密密钥")
            nonce, timestamp = self._check(query, now)
            return PushMessage(body, nonce, timestamp)
        if not isinstance(encrypted, str) or len(encrypted) > _MAX_ENCRYPTED_CHARS:
            raise PushRejected("需要安全模式的加密消息")  # no downgrade to plain mode
        nonce, timestamp = self._check(query, now, encrypted)
        return PushMessage(_json_object(self._cipher.decrypt(encrypted)), nonce, timestamp)


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise AppError("推送内容不是 JSON 对象", status=400, code="invalid_request")
    return data
