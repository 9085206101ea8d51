"""The only code that touches people, stories, their revisions, audit log, engagement
and comments: one repo class per service (people, editorial, feed, engagement,
comments), and the only place in the room that writes a MongoDB filter or update.

Every indexed field is top level (FerretDB's SQLite backend ignores nested ones).
Likes and favourites are one document each, ``_id = <story>:<user>``: uniqueness by
construction, and the counters move only when a document was really added or removed.
Lists page by keyset (``server.paging``); each list's order is its ``Keyset`` below.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from handlers.stories.search import QueryTerms
from server.paging import ID_ASCENDING, ID_DESCENDING, Keyset, Position, SortField
from server.repo import as_object_id, find_page

Document = dict[str, Any]
PUBLIC_STATUSES = ("published", "scheduled")
# View-count batches a story (and a story's day) remembers having taken
# (handlers/stories/views.py).
RECENT_BATCHES = 16
DUPLICATE_KEY = 11000
EngagementKind = str  # "likes" | "favorites"

# -- the lists' orders (the last field unique) ---------------------------------------------

FEED = Keyset(
    "stories",
    (
        SortField("pinned", "bool", descending=True),
        SortField("published_at", "datetime", descending=True),
        SortField("_id", "object_id", descending=True),
    ),
)
"""The public feed: pinned first, newest first."""
ADMIN_STORIES = Keyset("admin_stories", ID_DESCENDING)
PEOPLE = Keyset("people", ID_ASCENDING)
FAVORITES = Keyset(
    "favorites",
    (SortField("at", "datetime", descending=True), SortField("_id", "str", descending=True)),
)
"""A user's favourites, newest first; ``_id`` (``<story>:<user>``) breaks ties."""
COMMENTS = Keyset("comments", ID_DESCENDING)
MODERATION = Keyset("moderation", ID_ASCENDING)


def search_filter(query: QueryTerms) -> Document:
    """The MongoDB filter for search candidates: any query term in ``terms``.

    It can match many documents (a common bigram): callers bound the candidates
    (``.limit(...)``, newest first) and rank them with ``search.score``. An empty query
    gives ``{"terms": {"$in": []}}``, which matches nothing.
    """
    return {"terms": {"$in": query.all_terms()}}


def _oids(ids: list[str]) -> list[ObjectId]:
    return [oid for oid in map(as_object_id, ids) if oid is not None]


def new_id() -> str:
    """An id for a document about to be written (its photos are marked as used first)."""
    return str(ObjectId())


async def _insert(collection: Any, doc: Document) -> Document:
    """Insert ``doc`` under its ``_id`` (an id string of ``new_id``) or a new one."""
    doc = {**doc, "_id": as_object_id(doc.get("_id")) or ObjectId()}
    await collection.insert_one(doc)
    return doc


class PeopleRepo:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db["people"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("honour_names", ASCENDING)])
        await self.collection.create_index([("terms", ASCENDING)])

    async def insert(self, doc: Document) -> Document:
        return await _insert(self.collection, doc)

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
        """The people of ``person_ids`` that exist, in that order, in one query."""
        oids = _oids(person_ids)
        if not oids:
            return []
        found = {str(doc["_id"]): doc async for doc in self.collection.find({"_id": {"$in": oids}})}
        return [found[pid] for pid in person_ids if pid in found]

    async def page(
        self,
        *,
        honour: str | None,
        terms: QueryTerms | None,
        position: Position | None,
        limit: int,
    ) -> list[Document]:
        query: Document = {}
        if honour:
            query["honour_names"] = honour
        if terms is not None:
            query.update(search_filter(terms))
        return await find_page(self.collection, query, PEOPLE, position, limit)

    async def find_by_name(self, name: str) -> Document | None:
        return await self.collection.find_one({"name": name})


class StoryRepo:
    """The editorial side of ``stories``, with ``story_revisions`` and ``story_audit``.

    A public story's top-level content is its reviewed revision (what ``FeedRepo``
    reads); its pending revision, if any, is the ``draft`` sub-document and
    ``draft_status`` (handlers/stories/editorial.py)."""

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
        return await _insert(self.collection, doc)

    async def get(self, story_id: str) -> Document | None:
        oid = as_object_id(story_id)
        return await self.collection.find_one({"_id": oid}) if oid else None

    async def update_if(
        self, story_id: str, expected: Document, changes: Document
    ) -> Document | None:
        """Apply ``changes`` and bump ``revision`` only if the story still holds the
        ``expected`` values (a revision, a status): one atomic single-document write.
        ``expected`` is plain field values (equality), never operators."""
        oid = as_object_id(story_id)
        if oid is None:
            return None
        update: Document = {"$set": changes, "$inc": {"revision": 1}}
        unset = {key: "" for key, value in changes.items() if value is None}
        if unset:
            update["$set"] = {k: v for k, v in changes.items() if v is not None}
            update["$unset"] = unset
        return await self.collection.find_one_and_update(
            {**expected, "_id": oid}, update, return_document=ReturnDocument.AFTER
        )

    async def publish_due(self, story_id: str, now: datetime) -> Document | None:
        """scheduled -> published if its time has come (and bump ``revision``); None if
        the story is not scheduled or not due."""
        oid = as_object_id(story_id)
        if oid is None:
            return None
        return await self.collection.find_one_and_update(
            {"_id": oid, "status": "scheduled", "published_at": {"$lte": now}},
            {"$set": {"status": "published", "updated_at": now}, "$inc": {"revision": 1}},
            return_document=ReturnDocument.AFTER,
        )

    async def due_scheduled(self, now: datetime, limit: int = 100) -> list[str]:
        """Ids of scheduled stories whose time has come, oldest first."""
        cursor = (
            self.collection.find(
                {"status": "scheduled", "published_at": {"$lte": now}}, projection={"_id": 1}
            )
            .sort("published_at", ASCENDING)
            .limit(limit)
        )
        return [str(doc["_id"]) async for doc in cursor]

    async def admin_page(
        self,
        *,
        status: str | None,
        draft_status: str | None = None,
        position: Position | None,
        limit: int,
    ) -> list[Document]:
        query: Document = {"status": status} if status else {}
        if draft_status:
            # ``draft_status`` outlives no pending revision: publish and unpublish reset it.
            query["draft_status"] = draft_status
        return await find_page(self.collection, query, ADMIN_STORIES, position, limit)

    async def titles(self) -> set[str]:
        """Every story's title (the demo seed skips what exists)."""
        cursor = self.collection.find({}, projection={"title": 1})
        return {doc["title"] async for doc in cursor}

    async def titles_by_id(self, story_ids: list[str]) -> dict[str, str]:
        """The (live) titles of the stories of ``story_ids`` that exist, in one query."""
        oids = _oids(story_ids)
        if not oids:
            return {}
        cursor = self.collection.find({"_id": {"$in": oids}}, projection={"title": 1})
        return {str(doc["_id"]): doc["title"] async for doc in cursor}

    async def ids_by_title(self, titles: list[str]) -> dict[str, str]:
        """The ids of the stories of these titles (the demo seed's views)."""
        cursor = self.collection.find({"title": {"$in": titles}}, projection={"title": 1})
        return {doc["title"]: str(doc["_id"]) async for doc in cursor}

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


class FeedRepo:
    """What the public reads of ``stories``: published ones, and scheduled ones whose
    time has come (visibility is decided at read time)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db["stories"]

    @staticmethod
    def _public(
        now: datetime,
        *,
        category: str | None = None,
        tag: str | None = None,
        person_id: str | None = None,
    ) -> Document:
        query: Document = {"status": {"$in": PUBLIC_STATUSES}, "published_at": {"$lte": now}}
        if category:
            query["category"] = category
        if tag:
            query["tags"] = tag.strip()
        if person_id:
            query["person_ids"] = person_id
        return query

    async def get_public(self, story_id: str, now: datetime) -> Document | None:
        oid = as_object_id(story_id)
        if oid is None:
            return None
        return await self.collection.find_one({**self._public(now), "_id": oid})

    async def get_public_many(self, story_ids: list[str], now: datetime) -> dict[str, Document]:
        """The public ones of ``story_ids``, by id, in one query."""
        oids = _oids(story_ids)
        if not oids:
            return {}
        cursor = self.collection.find({**self._public(now), "_id": {"$in": oids}})
        return {str(doc["_id"]): doc async for doc in cursor}

    async def page(
        self,
        *,
        now: datetime,
        category: str | None,
        tag: str | None,
        person_id: str | None,
        position: Position | None,
        limit: int,
    ) -> list[Document]:
        """Public stories in ``FEED`` order after ``position``: stories published
        meanwhile neither repeat nor hide items across pages."""
        query = self._public(now, category=category, tag=tag, person_id=person_id)
        return await find_page(self.collection, query, FEED, position, limit)

    async def candidates(
        self,
        *,
        as_of: datetime,
        category: str | None,
        tag: str | None,
        person_id: str | None,
        terms: QueryTerms,
        limit: int,
    ) -> list[Document]:
        """Search candidates: public at ``as_of`` and holding a query term, the newest
        ``limit`` (a total order, so that every page of one search sees the same ones)."""
        query = {
            **self._public(as_of, category=category, tag=tag, person_id=person_id),
            **search_filter(terms),
        }
        cursor = (
            self.collection.find(query)
            .sort([("published_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [doc async for doc in cursor]


class EngagementRepo:
    """``story_likes`` and ``story_favorites`` (one document per story and user), the
    counters they and the views and comments keep on ``stories``, and
    ``story_views_daily`` (one document per story and Shanghai day, ``_id`` =
    ``<story>:<YYYY-MM-DD>``: the views of that day)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collections = {"likes": db["story_likes"], "favorites": db["story_favorites"]}
        self.stories = db["stories"]
        self.daily_views = db["story_views_daily"]

    async def ensure_indexes(self) -> None:
        for collection in self.collections.values():
            await collection.create_index([("user_id", ASCENDING), ("at", DESCENDING)])
            await collection.create_index([("story_id", ASCENDING)])  # count()
        await self.daily_views.create_index([("day", ASCENDING), ("story_id", ASCENDING)])
        await self.daily_views.create_index([("story_id", ASCENDING)])

    async def add(self, kind: EngagementKind, story_id: str, user_id: str, at: datetime) -> bool:
        """True if this really added one (False: it was already there)."""
        try:
            await self.collections[kind].insert_one(
                {"_id": f"{story_id}:{user_id}", "story_id": story_id, "user_id": user_id, "at": at}
            )
        except DuplicateKeyError:
            return False
        return True

    async def remove(self, kind: EngagementKind, story_id: str, user_id: str) -> bool:
        result = await self.collections[kind].delete_one({"_id": f"{story_id}:{user_id}"})
        return result.deleted_count == 1

    async def has(self, kind: EngagementKind, story_id: str, user_id: str) -> bool:
        doc = await self.collections[kind].find_one(
            {"_id": f"{story_id}:{user_id}"}, projection={"_id": 1}
        )
        return doc is not None

    async def count(self, kind: EngagementKind, story_id: str) -> int:
        """How many marks of ``kind`` the story has: every like or favourite whose write
        has completed, whatever the counter on the story has caught up with."""
        return await self.collections[kind].count_documents({"story_id": story_id})

    async def of_user(
        self, kind: EngagementKind, user_id: str, limit: int = 1000
    ) -> list[Document]:
        """The user's marks of ``kind``, newest first (export, erasure)."""
        cursor = (
            self.collections[kind]
            .find({"user_id": user_id})
            .sort([("at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [doc async for doc in cursor]

    async def favorites_page(
        self, user_id: str, position: Position | None, limit: int
    ) -> list[Document]:
        collection = self.collections["favorites"]
        return await find_page(collection, {"user_id": user_id}, FAVORITES, position, limit)

    async def bump_stat(self, story_id: str, field: str, delta: int) -> Document | None:
        """Add ``delta`` to the story's ``stats.<field>``; the story after, or None."""
        oid = as_object_id(story_id)
        if oid is None:
            return None
        return await self.stories.find_one_and_update(
            {"_id": oid},
            {"$inc": {f"stats.{field}": delta}},
            return_document=ReturnDocument.AFTER,
        )

    async def stats_of(self, story_ids: list[str]) -> dict[str, Document]:
        """The counters (``stats``) of the stories of ``story_ids`` that exist, by id, in
        one query on ``_id``."""
        oids = _oids(story_ids)
        if not oids:
            return {}
        cursor = self.stories.find({"_id": {"$in": oids}}, projection={"stats": 1})
        return {str(doc["_id"]): doc.get("stats", {}) async for doc in cursor}

    async def add_views(self, batch_id: str, views: dict[str, dict[str, int]]) -> None:
        """Add a batch of view counts (by story, then by Shanghai day; ``""``: no day):
        to each story's total and to its days. A story or a day that took ``batch_id``
        already (the batch is being retried, or taken by two workers at once) skips it."""
        daily = [
            UpdateOne(
                {"_id": f"{story_id}:{day}", "batches": {"$ne": batch_id}},
                {
                    "$inc": {"views": count},
                    "$setOnInsert": {"story_id": story_id, "day": day},
                    "$push": {"batches": {"$each": [batch_id], "$slice": -RECENT_BATCHES}},
                },
                upsert=True,
            )
            for story_id, by_day in views.items()
            if as_object_id(story_id) is not None
            for day, count in by_day.items()
            if day
        ]
        if daily:
            try:
                await self.daily_views.bulk_write(daily, ordered=False)
            except BulkWriteError as exc:
                # A day that took this batch already: its filter missed, and the upsert
                # met the document under the same _id. Anything else is a real failure.
                errors = exc.details.get("writeErrors", [])
                if not errors or any(e.get("code") != DUPLICATE_KEY for e in errors):
                    raise
        totals = [
            UpdateOne(
                {"_id": oid, "views_batches": {"$ne": batch_id}},
                {
                    "$inc": {"stats.views": sum(by_day.values())},
                    "$push": {"views_batches": {"$each": [batch_id], "$slice": -RECENT_BATCHES}},
                },
            )
            for story_id, by_day in views.items()
            if (oid := as_object_id(story_id)) is not None
        ]
        if totals:
            await self.stories.bulk_write(totals, ordered=False)

    async def most_read(self, first: str, last: str, limit: int) -> list[tuple[str, int]]:
        """The stories most read on the days ``first`` to ``last`` (ISO dates, inclusive),
        with their views then, most first (ties by id): one aggregation."""
        cursor = await self.daily_views.aggregate(
            [
                {"$match": {"day": {"$gte": first, "$lte": last}}},
                {"$group": {"_id": "$story_id", "views": {"$sum": "$views"}}},
                {"$sort": {"views": DESCENDING, "_id": ASCENDING}},
                {"$limit": limit},
            ]
        )
        return [(str(doc["_id"]), int(doc["views"])) async for doc in cursor]

    async def has_daily_views(self, story_id: str) -> bool:
        found = await self.daily_views.find_one({"story_id": story_id}, projection={"_id": 1})
        return found is not None

    async def titles_and_stats(self, story_ids: list[str]) -> dict[str, Document]:
        """Title, status and counters of each story of ``story_ids`` that exists (one
        query)."""
        oids = _oids(story_ids)
        if not oids:
            return {}
        cursor = self.stories.find(
            {"_id": {"$in": oids}}, projection={"title": 1, "status": 1, "stats": 1}
        )
        return {str(doc["_id"]): doc async for doc in cursor}


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
        return await _insert(self.collection, doc)

    async def approved_page(
        self, story_id: str, position: Position | None, limit: int
    ) -> list[Document]:
        """A story's approved comments, newest first."""
        query = {"story_id": story_id, "status": "approved"}
        return await find_page(self.collection, query, COMMENTS, position, limit)

    async def pending_page(self, position: Position | None, limit: int) -> list[Document]:
        """The moderation queue, oldest first."""
        return await find_page(self.collection, {"status": "pending"}, MODERATION, position, limit)

    async def moderate(
        self, comment_id: str, decision: str, by: str, at: datetime
    ) -> Document | None:
        """pending -> approved | rejected, once (a second decision finds nothing), and
        never by the comment's own author (four eyes: nothing is found either)."""
        oid = as_object_id(comment_id)
        if oid is None:
            return None
        return await self.collection.find_one_and_update(
            {"_id": oid, "status": "pending", "user_id": {"$ne": by}},
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
