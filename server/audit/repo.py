"""The only code that touches ``audit_log`` (``server.audit``): insert and read, never
update or delete."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from server.paging import Keyset, Position, SortField
from server.repo import find_page

Document = dict[str, Any]

# Newest first; entries written at the same instant (``record_many``) by id.
ENTRIES = Keyset(
    "audit_log",
    (SortField("at", "datetime", descending=True), SortField("_id", "object_id", descending=True)),
)


class AuditRepo:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db["audit_log"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("subject_user_id", ASCENDING), ("at", DESCENDING)])
        await self.collection.create_index([("actor", ASCENDING), ("at", DESCENDING)])
        await self.collection.create_index([("at", DESCENDING)])

    async def insert(self, entry: Document) -> None:
        await self.collection.insert_one(entry)

    async def insert_many(self, entries: list[Document]) -> None:
        await self.collection.insert_many(entries, ordered=False)

    async def about(self, user_id: str) -> list[Document]:
        """The entries about ``user_id``, oldest first."""
        cursor = self.collection.find({"subject_user_id": user_id}, projection={"_id": 0})
        return [doc async for doc in cursor.sort("at", ASCENDING)]

    async def page(
        self,
        *,
        actor: str | None,
        action: str | None,
        subject_user_id: str | None,
        since: datetime | None,
        until: datetime | None,
        position: Position | None,
        limit: int,
    ) -> list[Document]:
        """Entries matching every filter given (``at`` in ``[since, until)``), newest
        first, after ``position`` (``ENTRIES``)."""
        query: Document = {}
        if actor is not None:
            query["actor"] = actor
        if action is not None:
            query["action"] = action
        if subject_user_id is not None:
            query["subject_user_id"] = subject_user_id
        when: Document = {}
        if since is not None:
            when["$gte"] = since
        if until is not None:
            when["$lt"] = until
        if when:
            query["at"] = when
        return await find_page(self.collection, query, ENTRIES, position, limit)
