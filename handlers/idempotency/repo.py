"""The only code that touches ``idempotency_keys``: one document per (user, key)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, OperationFailure

Document = dict[str, Any]
DUPLICATE_KEY = 11000


class IdempotencyRepo:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db["idempotency_keys"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("created_at", ASCENDING)])

    async def claim_many(
        self, claims: list[tuple[str, str, datetime]]
    ) -> list[Document | Exception | None]:
        """A pending record inserted for each ``(record id, fingerprint, now)``, by one
        insert; per claim None if ours, else the record that was there first (read by
        one query; ``{}`` if it went meanwhile)."""
        results: list[Document | Exception | None] = [None] * len(claims)
        taken: list[int] = []
        try:
            await self.collection.insert_many(
                [
                    {"_id": record_id, "fingerprint": fingerprint, "state": "pending",
                     "created_at": now, "claimed_at": now}
                    for record_id, fingerprint, now in claims
                ],
                ordered=False,
            )  # fmt: skip
        except BulkWriteError as exc:
            if exc.details.get("writeConcernErrors"):
                return [exc] * len(claims)
            for error in exc.details.get("writeErrors", []):
                if error.get("code") == DUPLICATE_KEY:
                    taken.append(error["index"])
                else:
                    message = error.get("errmsg", "insert failed")
                    results[error["index"]] = OperationFailure(message, error.get("code"))
        if taken:
            ids = list({claims[index][0] for index in taken})
            there = {doc["_id"]: doc async for doc in self.collection.find({"_id": {"$in": ids}})}
            for index in taken:
                results[index] = there.get(claims[index][0], {})
        return results

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

    async def complete_many(
        self, answers: list[tuple[str, int, bytes, str | None]]
    ) -> list[Exception | None]:
        """Each ``(record id, status, body, content type)``: its record done, with the
        answer to replay; by one command."""
        try:
            done = [
                UpdateOne(
                    {"_id": record_id},
                    {"$set": {"state": "done", "status": status, "body": body,
                              "content_type": content_type}},
                )
                for record_id, status, body, content_type in answers
            ]  # fmt: skip
            await self.collection.bulk_write(
                done,
                ordered=False,
            )
        except BulkWriteError as exc:
            failed: list[Exception | None] = [None] * len(answers)
            for error in exc.details.get("writeErrors", []):
                message = error.get("errmsg", "update failed")
                failed[error["index"]] = OperationFailure(message, error.get("code"))
            if exc.details.get("writeConcernErrors"):
                return [exc] * len(answers)
            return failed
        return [None] * len(answers)

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
