"""Who is calling: roles and the authenticated principal (checks live in server.access)."""

from __future__ import annotations

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

    def has_any(self, *roles: Role) -> bool:
        return Role.admin in self.roles or any(role in self.roles for role in roles)


class Authenticator(Protocol):
    """Turns a bearer token into a principal (implemented by the auth room)."""

    async def authenticate(self, token: str) -> Principal: ...
