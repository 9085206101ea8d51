"""Class join codes: short, easy to read aloud and type, derived rather than stored.

A code is 8 characters of an alphabet without the look-alikes 0/O and 1/I/L (31
symbols, about 40 bits). It is derived with the ``join-code`` signing key from the class
id and a random generation (rotating draws a new generation), so MongoDB holds only the
code's HMAC digest (unique index) and the generation: a copy of the database names no
live code. Guessing is bounded by the attempt limits of the join route, not by length.
"""

from __future__ import annotations

import secrets

from server.signing import PurposeSigner

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
# What people type around a code: spaces and dashes, lower case.
_SEPARATORS = str.maketrans("", "", " -_")


def new_generation() -> str:
    return secrets.token_hex(8)


def derive_code(signer: PurposeSigner, class_id: str, generation: str) -> str:
    """The code of ``class_id`` at ``generation`` (the same every time it is asked)."""
    number = int.from_bytes(signer.sign(f"code:{class_id}:{generation}").encode(), "big")
    chars = []
    for _ in range(CODE_LENGTH):
        number, index = divmod(number, len(ALPHABET))
        chars.append(ALPHABET[index])
    return "".join(chars)


def normalise(text: str) -> str | None:
    """The code a person typed, as we derive them; None if it cannot be one."""
    code = text.translate(_SEPARATORS).upper()
    if len(code) != CODE_LENGTH or any(char not in ALPHABET for char in code):
        return None
    return code


def digest(signer: PurposeSigner, code: str) -> str:
    """What the database keeps of a code (and looks it up by)."""
    return signer.sign(f"digest:{code}")
