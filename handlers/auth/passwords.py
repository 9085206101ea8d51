"""Staff password policy (NIST SP 800-63B, 5.1.1.2): long enough, and not a password
everyone tries first. No composition rules: length and the list do the work."""

from __future__ import annotations

from functools import cache
from pathlib import Path

MIN_LENGTH = 12
MAX_LENGTH = 256  # argon2 takes any length; a bound keeps a typo'd file out
_LIST = Path(__file__).with_name("common_passwords.txt")


class WeakPassword(ValueError):
    """The message says what to change (shown by ``create-user``); ``reason`` names the
    rule (``too_short``, ``too_long``, ``too_common``, ``contains_username``), for
    forms that say it in their own words."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@cache
def common_passwords() -> frozenset[str]:
    lines = _LIST.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line and not line.startswith("#"))


def check_staff_password(password: str, username: str) -> None:
    """Raise ``WeakPassword`` unless ``password`` may protect a staff account."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"password too short: at least {MIN_LENGTH} characters", "too_short")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"password too long: at most {MAX_LENGTH} characters", "too_long")
    lowered = password.lower()
    if lowered in common_passwords() or len(set(lowered)) < 4:
        raise WeakPassword("password too common: one of the first an attacker tries", "too_common")
    if username.lower() in lowered:
        raise WeakPassword("password contains the username", "contains_username")
