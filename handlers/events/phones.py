"""Phone numbers of sign-ups: personal data, so validated, encrypted at rest and masked.

- Valid: a mainland China mobile number, 11 digits starting ``1[3-9]`` (spaces,
  dashes and a ``+86``/``86`` prefix are dropped first); anything else is 422.
- Stored: AES-256-GCM, a fresh 96-bit nonce per number, the sign-up's id as associated
  data (a ciphertext copied onto another sign-up does not decrypt), and the id of the
  key that sealed it (``PHONE_ENCRYPTION_KEYS``), so keys rotate: the first key seals,
  every listed key (and the one derived from ``JWT_SECRET``, the default) still opens.
- Shown: ``138****0000`` in every answer; the full number only in the organizer's Excel
  export (``export.py``, each export in the audit log). It never reaches a log line:
  the body is never logged and a validation error names the field, not the value.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from server.signing import Signer

_SEPARATORS = re.compile(r"[\s-]")
_MAINLAND_MOBILE = re.compile(r"1[3-9][0-9]{9}")
DERIVED_KEY_ID = "root"  # the key HKDF derives from JWT_SECRET when none is configured
_PURPOSE = "phone-encryption"
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,16}")
_NONCE_BYTES = 12


def normalise_phone(text: str) -> str | None:
    """The 11 digits of a mainland mobile number, or None if ``text`` is none."""
    digits = _SEPARATORS.sub("", text)
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits if digits.isascii() and _MAINLAND_MOBILE.fullmatch(digits) else None


def mask_phone(digits: str) -> str:
    """``13800000000`` -> ``138****0000``."""
    return f"{digits[:3]}****{digits[-4:]}"


def parse_keys(text: str) -> list[tuple[str, bytes]]:
    """``PHONE_ENCRYPTION_KEYS``: ``id:base64key[,id:base64key...]`` (32-byte keys)."""
    keys: list[tuple[str, bytes]] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        key_id, sep, encoded = part.partition(":")
        if not sep or not _KEY_ID.fullmatch(key_id) or key_id == DERIVED_KEY_ID:
            raise ValueError(
                f"PHONE_ENCRYPTION_KEYS: {key_id!r} is not a key id (1-16 of A-Z a-z 0-9 _ -,"
                f" not {DERIVED_KEY_ID!r})"
            )
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"PHONE_ENCRYPTION_KEYS: key {key_id!r} is not base64") from None
        if len(key) != 32:
            raise ValueError(
                f"PHONE_ENCRYPTION_KEYS: key {key_id!r} must be 32 bytes (openssl rand -base64 32)"
            )
        if any(key_id == known for known, _ in keys):
            raise ValueError(f"PHONE_ENCRYPTION_KEYS: key id {key_id!r} given twice")
        keys.append((key_id, key))
    return keys


@dataclass(frozen=True, slots=True)
class SealedPhone:
    """What the database keeps: key id, nonce and ciphertext (with the GCM tag)."""

    key_id: str
    nonce: bytes
    ciphertext: bytes


class PhoneCipher:
    """AES-GCM with the configured keys; the first one seals."""

    def __init__(self, configured: list[tuple[str, bytes]], signer: Signer) -> None:
        derived = (DERIVED_KEY_ID, signer.key(_PURPOSE))
        ordered = [*configured, derived]
        self.current_key_id = ordered[0][0]
        self._keys = {key_id: AESGCM(key) for key_id, key in ordered}

    def seal(self, digits: str, bound_to: str) -> SealedPhone:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._keys[self.current_key_id].encrypt(nonce, digits.encode(), bound_to.encode())
        return SealedPhone(self.current_key_id, nonce, sealed)

    def open(self, sealed: SealedPhone, bound_to: str) -> str | None:
        """The digits, or None when no key we hold opens it (a key dropped too early)."""
        aead = self._keys.get(sealed.key_id)
        if aead is None:
            return None
        try:
            return aead.decrypt(sealed.nonce, sealed.ciphertext, bound_to.encode()).decode()
        except (InvalidTag, UnicodeDecodeError):
            return None
