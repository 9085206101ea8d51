"""The only code that touches ``audit_log`` (``server.audit``): insert and read, never
update or delete."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

Document = dict[str, Any]


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
