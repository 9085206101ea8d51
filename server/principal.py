"""Who is calling: roles and the authenticated principal (checks live in server.access)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Role(StrEnum):
    resident = "resident"
    student = "student"
    teacher = "teacher"
    editor = "editor"
    reviewer = "reviewer"
    organizer = "organizer"
    admin = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller as proven by a valid, unrevoked access token."""

    user_id: str
    session_id: str
    roles: frozenset[Role]
    token_id: str
    # True unless the auth room saw no write of this user's lately (server/recent_writes.py):
    # answers a process holds for everyone may then serve them too.
    recent_writer: bool = True


def holds_any(held: Collection[Role], wanted: Collection[Role]) -> bool:
    """Whether ``held`` includes one of ``wanted``: admin holds every role."""
    return Role.admin in held or any(role in held for role in wanted)


class Authenticator(Protocol):
    """Turns a bearer token into a principal (implemented by the auth room)."""

    async def authenticate(self, token: str) -> Principal: ...
