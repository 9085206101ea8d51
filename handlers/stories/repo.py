"""The only code that touches people, stories, their revisions, audit log and engagement.

Every indexed field is top level (FerretDB's SQLite backend ignores nested ones).
Likes and favourites are one document each, ``_id = <story>:<user>``: uniqueness by
construction, and the counters move only when a document was really added or removed.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from media.store import as_object_id

Document = dict[str, Any]
PUBLIC_STATUSES = ("published", "scheduled")
# View-count batches a story remembers having taken (handlers/stories/views.py).
RECENT_BATCHES = 16


class PeopleRepo:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db["people"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("honour_names", ASCENDING)])
        await self.collection.create_index([("terms", ASCENDING)])

    async def insert(self, doc: Document) -> Document:
        doc = {**doc, "_id": ObjectId()}
        await self.collection.insert_one(doc)
        return doc

    async def update(self, person_id: str, changes: Document) -> Document | None:
        oid = as_object_id(person_id)
        if oid is None:
            return None
        return await self.collection.find_one_and_update(
            {"_id": oid}, {"$set": changes}, return_document=ReturnDocument.AFTER
        )

    async def get(self, person_id: str) -> Document | None:
        oid = as_object_id(person_id)
        return await self.collection.find_one({"_id": oid}) if oid else None

    async def get_many(self, person_ids: list[str]) -> list[Document]:
        oids = [oid for oid in map(as_object_id, person_ids) if oid is not None]
        if not oids:
            return []
        found = {str(doc["_id"]): doc async for doc in self.collection.find({"_id": {"$in": oids}})}
        return [found[pid] for pid in person_ids if pid in found]

    async def page(
        self, *, honour: str | None, terms: list[str] | None, after_id: str | None, limit: int
    ) -> list[Document]:
        query: Document = {}
        if honour:
            query["honour_names"] = honour
        if terms is not None:
            query["terms"] = {"$in": terms}
        if after_id and (oid := as_object_id(after_id)) is not None:
            query["_id"] = {"$gt": oid}
        cursor = self.collection.find(query).sort("_id", ASCENDING).limit(limit)
        return [doc async for doc in cursor]

    async def find_by_name(self, name: str) -> Document | None:
        return await self.collection.find_one({"name": name})


class StoryRepo:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db["stories"]
        self.revisions = db["story_revisions"]
        self.audit = db["story_audit"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index(
            [("status", ASCENDING), ("pinned", DESCENDING), ("published_at", DESCENDING)]
        )
        await self.collection.create_index([("terms", ASCENDING)])
        await self.collection.create_index([("person_ids", ASCENDING)])
        await self.collection.create_index([("tags", ASCENDING)])
        await self.revisions.create_index(
            [("story_id", ASCENDING), ("revision", ASCENDING)], unique=True
        )
        await self.audit.create_index([("story_id", ASCENDING), ("at", ASCENDING)])

    async def insert(self, doc: Document) -> Document:
        doc = {**doc, "_id": ObjectId()}
        await self.collection.insert_one(doc)
        return doc

    async def get(self, story_id: str) -> Document | None:
        oid = as_object_id(story_id)
        return await self.collection.find_one({"_id": oid}) if oid else None

    async def get_public(self, story_id: str, now: datetime) -> Document | None:
        oid = as_object_id(story_id)
        if oid is None:
            return None
        return await self.collection.find_one(
            {"_id": oid, "status": {"$in": PUBLIC_STATUSES}, "published_at": {"$lte": now}}
        )

    async def update_if(
        self, story_id: str, expected: Document, changes: Document
    ) -> Document | None:
        """Apply ``changes`` and bump ``revision`` only if the story still matches
        ``expected`` (a revision, a status): one atomic single-document write."""
        oid = as_object_id(story_id)
        if oid is None:
            return None
        update: Document = {"$set": changes, "$inc": {"revision": 1}}
        unset = {key: "" for key, value in changes.items() if value is None}
        if unset:
            update["$set"] = {k: v for k, v in changes.items() if v is not None}
            update["$unset"] = unset
        return await self.collection.find_one_and_update(
            {"_id": oid, **expected}, update, return_document=ReturnDocument.AFTER
        )

    async def public_page(
        self,
        *,
        now: datetime,
        filters: Document,
        after: tuple[bool, datetime, str] | None,
        limit: int,
    ) -> list[Document]:
        """Published stories, pinned first, newest first; keyset-paged so that stories
        published meanwhile neither repeat nor hide items across pages."""
        query: Document = {
            "status": {"$in": PUBLIC_STATUSES},
            "published_at": {"$lte": now},
            **filters,
        }
        if after is not None:
            pinned, published_at, last_id = after
            oid = as_object_id(last_id)
            tie = [{"pinned": pinned, "published_at": published_at, "_id": {"$lt": oid}}]
            later = [{"pinned": pinned, "published_at": {"$lt": published_at}}]
            unpinned = [{"pinned": False}] if pinned else []
            query = {"$and": [query, {"$or": tie + later + unpinned}]}
        cursor = (
            self.collection.find(query)
            .sort([("pinned", DESCENDING), ("published_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [doc async for doc in cursor]

    async def public_candidates(
        self, *, now: datetime, filters: Document, terms: list[str], limit: int
    ) -> list[Document]:
        query: Document = {
            "status": {"$in": PUBLIC_STATUSES},
            "published_at": {"$lte": now},
            "terms": {"$in": terms},
            **filters,
        }
        cursor = self.collection.find(query).sort("published_at", DESCENDING).limit(limit)
        return [doc async for doc in cursor]

    async def admin_page(
        self, *, status: str | None, after_id: str | None, limit: int
    ) -> list[Document]:
        query: Document = {"status": status} if status else {}
        if after_id and (oid := as_object_id(after_id)) is not None:
            query["_id"] = {"$lt": oid}
        cursor = self.collection.find(query).sort("_id", DESCENDING).limit(limit)
        return [doc async for doc in cursor]

    async def add_revision(self, doc: Document, by: str, action: str, at: datetime) -> None:
        # A retried save of the same revision: the history already has it.
        with contextlib.suppress(DuplicateKeyError):
            await self.revisions.insert_one(
                {
                    "story_id": str(doc["_id"]),
                    "revision": doc["revision"],
                    "by": by,
                    "at": at,
                    "action": action,
                    "title": doc["title"],
                    "summary": doc["summary"],
                    "body_markdown": doc["body_markdown"],
                }
            )

    async def revisions_of(self, story_id: str) -> list[Document]:
        cursor = self.revisions.find({"story_id": story_id}).sort("revision", ASCENDING)
        return [doc async for doc in cursor]

    async def log(self, story_id: str, action: str, by: str, at: datetime, **details: Any) -> None:
        await self.audit.insert_one(
            {"story_id": story_id, "action": action, "by": by, "at": at, "details": details}
        )

    async def bump_stat(self, story_id: str, field: str, delta: int) -> Document | None:
        oid = as_object_id(story_id)
        if oid is None:
            return None
        return await self.collection.find_one_and_update(
            {"_id": oid},
            {"$inc": {f"stats.{field}": delta}},
            return_document=ReturnDocument.AFTER,
        )

    async def add_views(self, batch_id: str, counts: dict[str, int]) -> None:
        """Add a batch of view counts; a story that took ``batch_id`` already (the batch
        is being retried, or taken by two workers at once) skips it."""
        updates = [
            UpdateOne(
                {"_id": oid, "views_batches": {"$ne": batch_id}},
                {
                    "$inc": {"stats.views": count},
                    "$push": {"views_batches": {"$each": [batch_id], "$slice": -RECENT_BATCHES}},
                },
            )
            for story_id, count in counts.items()
            if (oid := as_object_id(story_id)) is not None
        ]
        if updates:
            await self.collection.bulk_write(updates, ordered=False)

    async def due_scheduled(self, now: datetime, limit: int = 100) -> list[Document]:
        """Scheduled stories whose time has come, oldest first."""
        cursor = (
            self.collection.find({"status": "scheduled", "published_at": {"$lte": now}})
            .sort("published_at", ASCENDING)
            .limit(limit)
        )
        return [doc async for doc in cursor]


class EngagementRepo:
    """``story_likes`` and ``story_favorites``: one document per (story, user)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collections = {"likes": db["story_likes"], "favorites": db["story_favorites"]}

    async def ensure_indexes(self) -> None:
        for collection in self.collections.values():
            await collection.create_index([("user_id", ASCENDING), ("at", DESCENDING)])

    async def add(self, kind: str, story_id: str, user_id: str, at: datetime) -> bool:
        """True if this really added one (False: it was already there)."""
        try:
            await self.collections[kind].insert_one(
                {"_id": f"{story_id}:{user_id}", "story_id": story_id, "user_id": user_id, "at": at}
            )
        except DuplicateKeyError:
            return False
        return True

    async def remove(self, kind: str, story_id: str, user_id: str) -> bool:
        result = await self.collections[kind].delete_one({"_id": f"{story_id}:{user_id}"})
        return result.deleted_count == 1

    async def has(self, kind: str, story_id: str, user_id: str) -> bool:
        doc = await self.collections[kind].find_one({"_id": f"{story_id}:{user_id}"})
        return doc is not None

    async def of_user(
        self, kind: str, user_id: str, before: datetime | None = None, limit: int = 1000
    ) -> list[Document]:
        query: Document = {"user_id": user_id}
        if before is not None:
            query["at"] = {"$lt": before}
        cursor = self.collections[kind].find(query).sort("at", DESCENDING).limit(limit)
        return [doc async for doc in cursor]


class CommentRepo:
    """``story_comments``: one document per comment; ``status`` moves by moderation."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db["story_comments"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index(
            [("story_id", ASCENDING), ("status", ASCENDING), ("_id", DESCENDING)]
        )
        await self.collection.create_index([("status", ASCENDING), ("_id", ASCENDING)])
        await self.collection.create_index([("user_id", ASCENDING)])

    async def insert(self, doc: Document) -> Document:
        doc = {**doc, "_id": ObjectId()}
        await self.collection.insert_one(doc)
        return doc

    async def page(
        self, query: Document, before_id: str | None, limit: int, newest_first: bool = True
    ) -> list[Document]:
        if before_id and (oid := as_object_id(before_id)) is not None:
            query = {**query, "_id": {"$lt" if newest_first else "$gt": oid}}
        order = DESCENDING if newest_first else ASCENDING
        cursor = self.collection.find(query).sort("_id", order).limit(limit)
        return [doc async for doc in cursor]

    async def moderate(
        self, comment_id: str, decision: str, by: str, at: datetime
    ) -> Document | None:
        """pending -> approved | rejected, once (a second decision finds nothing)."""
        oid = as_object_id(comment_id)
        if oid is None:
            return None
        return await self.collection.find_one_and_update(
            {"_id": oid, "status": "pending"},
            {"$set": {"status": decision, "moderated_by": by, "moderated_at": at}},
            return_document=ReturnDocument.AFTER,
        )

    async def get(self, comment_id: str) -> Document | None:
        oid = as_object_id(comment_id)
        return await self.collection.find_one({"_id": oid}) if oid else None

    async def of_user(self, user_id: str) -> list[Document]:
        cursor = self.collection.find({"user_id": user_id}).sort("_id", ASCENDING)
        return [doc async for doc in cursor]

    async def delete(self, comment_id: Any) -> bool:
        result = await self.collection.delete_one({"_id": comment_id})
        return result.deleted_count == 1
