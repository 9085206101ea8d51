"""The audit log: who did what to whose personal data, and when (``audit_log``,
``server/audit/repo.py``).

Every access by staff (or an operator at the console) to another person's personal
data is recorded here by the code that does it: ``await app[AUDIT].record(actor,
action, subject_user_id, details)``. Today: staff accounts created and passwords reset
(``create-user``), account erasures and the organizers' Excel exports of event sign-ups
(``record_many``: one entry per person listed); later the staff console too.

Entries are a legal record: erasing an account does not erase the entries about it
(GDPR Art. 17(3)(b), (e)), so ``details`` must never carry personal data, only ids,
roles and action names. A person's export includes the entries about them (who looked
at or changed their data). Entries are never updated; the clock is the app's.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterable
from typing import Any

from server.audit.repo import AuditRepo
from server.clock import Clock


def user_actor(user_id: str) -> str:
    return f"user:{user_id}"


def cli_actor() -> str:
    """``python -m server <command>``: the operator, as the host knows them."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container's)
        login = str(os.getuid())
    return f"cli:{login}"


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

    # -- personal data (server.privacy) ---------------------------------------------

    async def export_personal_data(self, user_id: str) -> Any:
        return [
            {**entry, "at": entry["at"].isoformat(), "subject_user_id": user_id}
            for entry in await self.repo.about(user_id)
        ]

    async def erase_personal_data(self, user_id: str) -> None:
        """Nothing: the entries about a person outlive their account (module docstring)."""
