"""The assembly: every room of the app, in setup order. The one module of ``server/``
that imports ``handlers/`` (tests/test_architecture.py checks it).

A room's services may use the services of rooms above it. Adding a room is a package
under ``handlers/`` exporting ``ROOM``, plus one line here (docs/architecture.md).
"""

from __future__ import annotations

from handlers.auth import ROOM as AUTH
from handlers.console import ROOM as CONSOLE
from handlers.events import ROOM as EVENTS
from handlers.idempotency import ROOM as IDEMPOTENCY
from handlers.labour import ROOM as LABOUR
from handlers.media import ROOM as MEDIA
from handlers.messages import ROOM as MESSAGES
from handlers.ops import ROOM as OPS
from handlers.stories import ROOM as STORIES
from server.room import Room

ROOMS: tuple[Room, ...] = (
    OPS, IDEMPOTENCY, MEDIA, AUTH, MESSAGES, STORIES, EVENTS, LABOUR, CONSOLE,
)  # fmt: skip
