"""The audit log: who did what to whose personal data, and when (``audit_log``,
``server/audit/repo.py``).

Every access by staff (or an operator at the console) to another person's personal
data is recorded here by the code that does it: ``await app[AUDIT].record(actor,
action, subject_user_id, details)``. Today: staff accounts created and passwords reset
(``create-user``), account erasures and the organizers' Excel exports of event sign-ups
(``record_many``: one entry per person listed), the admins' changes to staff accounts
(created, roles, new password, disabled, enabled) and to teachers' schools. Admins read
it in the console, newest first, filtered (``page``).

Entries are a legal record: erasing an account does not erase the entries about it
(GDPR Art. 17(3)(b), (e)), so ``details`` must never carry personal data, only ids,
roles and action names. A person's export includes the entries about them (who looked
at or changed their data). Entries are never updated; the clock is the app's.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from server.audit.repo import ENTRIES, AuditRepo
from server.clock import Clock
from server.paging import PageQuery

USER_ACTOR_PREFIX = "user:"
CLI_ACTOR_PREFIX = "cli:"


def user_actor(user_id: str) -> str:
    return USER_ACTOR_PREFIX + user_id


def actor_user_id(actor: str) -> str | None:
    """The account an actor names (None: an operator at the command line)."""
    return actor.removeprefix(USER_ACTOR_PREFIX) if actor.startswith(USER_ACTOR_PREFIX) else None


def cli_actor() -> str:
    """``python -m server <command>``: the operator, as the host knows them."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container's)
        login = str(os.getuid())
    return CLI_ACTOR_PREFIX + login


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which entries to read: each filter given must match (None: any)."""

    actor: str | None = None
    action: str | None = None
    subject_user_id: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: str
    at: datetime
    actor: str
    action: str
    subject_user_id: str | None
    details: dict[str, Any]


class AuditLog:
    privacy_section = "audit"

    def __init__(self, repo: AuditRepo, clock: Clock) -> None:
        self.repo = repo
        self.clock = clock

    async def record(
        self,
        actor: str,
        action: str,
        subject_user_id: str | None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """``actor``: ``user_actor(id)`` or ``cli_actor()``; ``action``: snake_case, what was
        done; ``subject_user_id``: whose data; ``details``: ids and names, no personal data."""
        await self.repo.insert(
            {
                "at": self.clock.now(),
                "actor": actor,
                "action": action,
                "subject_user_id": subject_user_id,
                "details": details or {},
            }
        )

    async def record_many(
        self,
        actor: str,
        action: str,
        subject_user_ids: Iterable[str | None],
        details: dict[str, Any] | None = None,
    ) -> None:
        """One entry per subject, written at once: an act that touched many people's data
        (an export of a list of people) is in each one's record."""
        at = self.clock.now()
        entries = [
            {
                "at": at,
                "actor": actor,
                "action": action,
                "subject_user_id": subject,
                "details": details or {},
            }
            for subject in subject_user_ids
        ]
        if entries:
            await self.repo.insert_many(entries)

    async def page(
        self, which: AuditFilter, query: PageQuery
    ) -> tuple[list[AuditEntry], str | None]:
        """One page of the entries ``which`` selects, newest first, and the next cursor
        (422 ``invalid_cursor`` for a cursor that is not this list's)."""
        docs = await self.repo.page(
            actor=which.actor,
            action=which.action,
            subject_user_id=which.subject_user_id,
            since=which.since,
            until=which.until,
            position=ENTRIES.decode(query.cursor),
            limit=query.limit + 1,
        )
        docs, next_cursor = ENTRIES.page(docs, query.limit)
        entries = [
            AuditEntry(
                id=str(doc["_id"]),
                at=doc["at"],
                actor=doc["actor"],
                action=doc["action"],
                subject_user_id=doc.get("subject_user_id"),
                details=doc.get("details") or {},
            )
            for doc in docs
        ]
        return entries, next_cursor

    # -- personal data (server.privacy) ---------------------------------------------

    async def export_personal_data(self, user_id: str) -> Any:
        return [
            {**entry, "at": entry["at"].isoformat(), "subject_user_id": user_id}
            for entry in await self.repo.about(user_id)
        ]

    async def erase_personal_data(self, user_id: str) -> None:
        """Nothing: the entries about a person outlive their account (module docstring)."""
