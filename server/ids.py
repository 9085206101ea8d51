"""Ids as the edge takes them: one canonical spelling per object, decided once.

Every id a route takes from its path or body goes through here before a service sees
it, so a service only ever meets canonical ids: anything it derives from one (the
``<story>:<user>`` id of a like, a cache key, a comment's ``story_id``) is the same for
every spelling a client may send, and a non-canonical spelling is the same object or
not found, never a second one.

- ObjectIds (stories, people, comments...): 24 hex digits, any case; the canonical
  spelling is lower case (what ``str(ObjectId)`` gives). Anything else is not found.
- Media ids: 32 lower-case hex digits (128 random bits), or an ObjectId's 24 for media
  made before; exactly as we write them, any other spelling (upper case included) names
  no media (``handlers/media/repo.py``).
"""

from __future__ import annotations

import re
from typing import Annotated

from aiohttp import web
from pydantic import AfterValidator, Field

from server.errors import NotFound

_OBJECT_ID_RE = re.compile(r"[0-9a-f]{24}")
_MEDIA_ID_RE = re.compile(r"[0-9a-f]{32}|[0-9a-f]{24}")


def canonical_object_id(text: object) -> str | None:
    """The canonical (lower-case) spelling of the ObjectId ``text`` names, else None."""
    if not isinstance(text, str) or len(text) != 24:
        return None
    lowered = text.lower()
    return lowered if _OBJECT_ID_RE.fullmatch(lowered) else None


def canonical_media_id(text: object) -> str | None:
    """``text`` if it is a media id exactly as we write them, else None (not found)."""
    if isinstance(text, str) and _MEDIA_ID_RE.fullmatch(text):
        return text
    return None


def path_object_id(request: web.Request, name: str) -> str:
    """The canonical ObjectId in the path's ``{name}``; 404 if it is none."""
    object_id = canonical_object_id(request.match_info[name])
    if object_id is None:
        raise NotFound()
    return object_id


def path_media_id(request: web.Request, name: str = "media_id") -> str:
    """The media id in the path's ``{name}``; 404 if it is none."""
    media_id = canonical_media_id(request.match_info[name])
    if media_id is None:
        raise NotFound()
    return media_id


def _object_id_field(text: str) -> str:
    object_id = canonical_object_id(text)
    if object_id is None:
        raise ValueError("not an id")
    return object_id


ObjectIdText = Annotated[
    str,
    Field(min_length=24, max_length=24, pattern="^[0-9a-fA-F]{24}$"),
    AfterValidator(_object_id_field),
]
"""An ObjectId in a body or query, canonical once validated (422 if it is none)."""
