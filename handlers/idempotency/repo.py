"""The only code that touches ``idempotency_keys``: one document per (user, key)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

Document = dict[str, Any]


class IdempotencyRepo:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db["idempotency_keys"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("created_at", ASCENDING)])

    async def claim(self, record_id: str, fingerprint: str, now: datetime) -> Document | None:
        """Insert a pending record; None if ours, else the record that was there first."""
        try:
            await self.collection.insert_one(
                {
                    "_id": record_id,
                    "fingerprint": fingerprint,
                    "state": "pending",
                    "created_at": now,
                    "claimed_at": now,
                }
            )
        except DuplicateKeyError:
            return await self.collection.find_one({"_id": record_id}) or {}
        return None

    async def take_over(
        self, record_id: str, seen_claimed_at: datetime, fingerprint: str, now: datetime
    ) -> bool:
        """Re-claim an expired or abandoned record, if nobody else did in between."""
        doc = await self.collection.find_one_and_update(
            {"_id": record_id, "claimed_at": seen_claimed_at},
            {
                "$set": {
                    "fingerprint": fingerprint,
                    "state": "pending",
                    "created_at": now,
                    "claimed_at": now,
                },
                "$unset": {"status": "", "body": "", "headers": ""},
            },
            return_document=ReturnDocument.AFTER,
        )
        return doc is not None

    async def get(self, record_id: str) -> Document | None:
        return await self.collection.find_one({"_id": record_id})

    async def complete(
        self, record_id: str, status: int, body: bytes, content_type: str | None
    ) -> None:
        await self.collection.update_one(
            {"_id": record_id},
            {
                "$set": {
                    "state": "done",
                    "status": status,
                    "body": body,
                    "content_type": content_type,
                }
            },
        )

    async def release(self, record_id: str) -> None:
        await self.collection.delete_one({"_id": record_id, "state": "pending"})

    async def delete_older_than(self, cutoff: datetime) -> int:
        result = await self.collection.delete_many({"created_at": {"$lt": cutoff}})
        return result.deleted_count

    def _of_user(self, user_id: str) -> Document:
        return {"_id": {"$regex": f"^{re.escape(user_id)}:"}}

    async def delete_for_user(self, user_id: str) -> None:
        await self.collection.delete_many(self._of_user(user_id))

    async def of_user(self, user_id: str) -> list[Document]:
        cursor = self.collection.find(self._of_user(user_id), projection={"body": 0})
        return [doc async for doc in cursor.sort("created_at", ASCENDING)]
