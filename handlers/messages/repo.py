"""The only code that touches ``messages``, the outbox: one document per message ever
meant to be sent, its ``_id`` the sender's key for it (so it exists once)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

Document = dict[str, Any]


class MessageRepo:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db["messages"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("state", ASCENDING), ("next_at", ASCENDING)])
        await self.collection.create_index([("user_id", ASCENDING), ("created_at", ASCENDING)])

    async def insert(self, doc: Document) -> bool:
        """False when a message with that key exists already (asked for twice)."""
        try:
            await self.collection.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def get(self, message_id: str) -> Document | None:
        return await self.collection.find_one({"_id": message_id})

    async def claim(self, message_id: str, now: datetime, lease_until: datetime) -> Document | None:
        """Take a message to send it: one that is due, or whose sender's lease ran out
        (it died mid-send). One caller wins, whatever the number of workers."""
        return await self.collection.find_one_and_update(
            {
                "_id": message_id,
                "$or": [
                    {"state": "pending", "next_at": {"$lte": now}},
                    {"state": "sending", "lease_until": {"$lte": now}},
                ],
            },
            {"$set": {"state": "sending", "lease_until": lease_until}, "$inc": {"attempts": 1}},
            return_document=ReturnDocument.AFTER,
        )

    async def finish(self, claimed: Document, changes: Document) -> bool:
        """Record what came of a send, unless another sender took the message over
        since (its lease ran out): the attempt number is the claim's."""
        result = await self.collection.update_one(
            {"_id": claimed["_id"], "state": "sending", "attempts": claimed["attempts"]},
            {"$set": changes},
        )
        return result.modified_count == 1

    async def due(self, now: datetime, limit: int) -> list[str]:
        """Messages due whose job never ran (Redis was away) and abandoned sends."""
        cursor = self.collection.find(
            {
                "$or": [
                    {"state": "pending", "next_at": {"$lte": now}},
                    {"state": "sending", "lease_until": {"$lte": now}},
                ]
            },
            {"_id": 1},
        ).limit(limit)
        return [str(doc["_id"]) async for doc in cursor]

    async def of_user(self, user_id: str) -> list[Document]:
        cursor = self.collection.find({"user_id": user_id}).sort("created_at", ASCENDING)
        return [doc async for doc in cursor]

    async def erase_user(self, user_id: str, now: datetime, kind: str | None = None) -> None:
        """Nothing more is sent to them (of ``kind``, or at all); what was sent keeps
        no words of theirs."""
        match: Document = {"user_id": user_id} | ({"kind": kind} if kind else {})
        await self.collection.update_many(
            match | {"state": {"$in": ["pending", "sending"]}},
            {"$set": {"state": "erased", "updated_at": now}},
        )
        await self.collection.update_many(match, {"$set": {"data": {}, "page": ""}})
