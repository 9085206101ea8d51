"""Template values as WeChat takes them: each kind of keyword has its own rule, and a
value that breaks it makes WeChat refuse the whole message (47003). The rooms build
their messages' values with these, so a long title is shortened, never refused.
"""

from __future__ import annotations

from datetime import datetime

from server.clock import SHANGHAI

THING_MAX = 20  # thing: 20 characters of anything
PHRASE_MAX = 5  # phrase: 5 Chinese characters


def _fit(text: str, limit: int) -> str:
    text = " ".join(text.split())  # no line breaks in a notification line
    if len(text) <= limit:
        return text or "—"
    return text[: limit - 1] + "…"


def thing(text: str) -> str:
    """A ``thing`` value (a title, a place, a remark)."""
    return _fit(text, THING_MAX)


def phrase(text: str) -> str:
    """A ``phrase`` value (a short status: 通过, 未通过)."""
    return _fit(text, PHRASE_MAX)


def time_value(at: datetime) -> str:
    """A ``time`` value, in Shanghai time: ``2026年05月01日 09:30``."""
    local = at.astimezone(SHANGHAI)
    return local.strftime("%Y年%m月%d日 %H:%M")
