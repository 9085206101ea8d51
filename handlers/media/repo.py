"""The only code that touches the ``media`` collection (the bytes live in media/store.py).

Ids: new media get 128 random bits as 32 lowercase hex characters (``_id`` a string),
so nobody reaches other people's photos by counting from their own; media made
before that keep their ObjectId (24 hex characters) and still resolve. Only these two
exact spellings name a media (``server.ids.canonical_media_id``): anything else (upper
case, padding) is simply not found, never a second name for the same photo.

``(owner_id, sha256, purpose)`` is unique: the same bytes uploaded twice by the same
owner for the same purpose are one media, whatever the concurrency; for another
purpose they are another media, so deduplication never turns a private check-in
photo into a public avatar or back.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from server.ids import canonical_media_id

log = logging.getLogger("jiangxin.media")

Document = dict[str, Any]

DEDUPE_INDEX = "owner_sha256_purpose"
_OLD_DEDUPE_INDEX = "dedupe_key_1"  # unique per owner and bytes, whatever the purpose


def _stored_id(value: object) -> str | ObjectId | None:
    media_id = canonical_media_id(value)
    if media_id is None:
        return None
    return ObjectId(media_id) if len(media_id) == 24 else media_id


class DuplicateMedia(Exception):
    pass


def _pull(oid: str | ObjectId, ref: str) -> UpdateOne:
    """The undoing of the mark ``ref`` on the media ``oid``."""
    return UpdateOne({"_id": oid}, {"$pull": {"referenced_by": ref}})


class MediaRepo:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db["media"]

    async def ensure_indexes(self) -> None:
        # Records from before the purpose was part of it have all three fields, and are
        # unique by the first two, so the new index builds over them as they are. It is
        # built before the old one goes: uniqueness holds at every moment of a deploy.
        await self.collection.create_index(
            [("owner_id", ASCENDING), ("sha256", ASCENDING), ("purpose", ASCENDING)],
            unique=True,
            name=DEDUPE_INDEX,
        )
        if _OLD_DEDUPE_INDEX in await self.collection.index_information():
            with contextlib.suppress(OperationFailure):  # another process dropped it first
                await self.collection.drop_index(_OLD_DEDUPE_INDEX)
        await self.collection.create_index([("owner_id", ASCENDING)])
        await self.collection.create_index([("created_at", ASCENDING)])
        await self.collection.create_index([("webp_pending", ASCENDING), ("created_at", ASCENDING)])
        await self.collection.create_index([("deleting_at", ASCENDING)])

    @staticmethod
    def new_id() -> str:
        return secrets.token_hex(16)

    async def get(self, media_id: str) -> Document | None:
        stored = _stored_id(media_id)
        return await self.collection.find_one({"_id": stored}) if stored else None

    async def get_many(self, media_ids: list[str]) -> list[Document]:
        stored = [i for i in map(_stored_id, media_ids) if i is not None]
        if not stored:
            return []
        return [doc async for doc in self.collection.find({"_id": {"$in": stored}})]

    async def find_duplicate(self, owner_id: str, sha256: str, purpose: str) -> Document | None:
        return await self.collection.find_one(
            {"owner_id": owner_id, "sha256": sha256, "purpose": purpose}
        )

    async def insert(self, doc: Document) -> None:
        try:
            await self.collection.insert_one(doc)
        except DuplicateKeyError:
            raise DuplicateMedia(doc["_id"]) from None

    async def add_references(
        self, marks: Sequence[tuple[str, str | None, str]]
    ) -> list[bool | Exception]:
        """Each ``(media id, owner id, ref)``: the owner's media marked as used by ``ref``;
        per mark False (and not marked) if the media is missing, not theirs or being
        deleted, or the error that refused it. Two commands whatever their number: the
        marks written by ``_id`` (the one index every server serves an update by), then
        the media read back; one found gone, another's or marked for deletion by then
        has its mark taken back, in a third (a deletion that marked it after the read
        began after this use, as if it had come a moment later). If either command
        fails, every mark is taken back and the error raised."""
        results: list[bool | Exception] = [False] * len(marks)
        ops: list[UpdateOne] = []
        at: list[tuple[int, str | ObjectId, str]] = []  # (index in marks, stored id, ref)
        stored: dict[str | ObjectId, None] = {}
        for index, (media_id, _, ref) in enumerate(marks):
            oid = _stored_id(media_id)
            if oid is not None:
                ops.append(UpdateOne({"_id": oid}, {"$addToSet": {"referenced_by": ref}}))
                at.append((index, oid, ref))
                stored[oid] = None
        if not ops:
            return results
        refused: list[UpdateOne] = []
        try:
            try:
                await self.collection.bulk_write(ops, ordered=False)
            except BulkWriteError as exc:
                if exc.details.get("writeConcernErrors"):
                    raise  # applied or not: taken back below, every use refused
                for error in exc.details.get("writeErrors", []):
                    message = error.get("errmsg", "update failed")
                    results[at[error["index"]][0]] = OperationFailure(message, error.get("code"))
            now = {
                doc["_id"]: doc
                async for doc in self.collection.find(
                    {"_id": {"$in": list(stored)}},
                    projection={"owner_id": 1, "deleting_at": 1},
                )
            }
        except BaseException:
            # The marks may be written with nothing to use them: none is left behind (it
            # would keep its photo from the sweeper for ever). Then every use fails.
            await self._take_back([_pull(oid, ref) for _, oid, ref in at])
            raise
        for index, oid, ref in at:
            if isinstance(results[index], Exception):
                continue
            owner_id = marks[index][1]
            doc = now.get(oid)
            results[index] = (
                doc is not None and doc["owner_id"] == owner_id and not doc.get("deleting_at")
            )
            if not results[index]:
                refused.append(_pull(oid, ref))
        await self._take_back(refused)
        return results

    async def _take_back(self, pulls: list[UpdateOne]) -> None:
        """Marks of uses that did not happen, removed in one command; a failure is
        logged, not raised (the use is refused either way; the mark only delays the
        sweeping of that photo)."""
        if not pulls:
            return
        try:
            await self.collection.bulk_write(pulls, ordered=False)
        except Exception:
            log.warning("media marks not taken back (%d): the photos stay unswept", len(pulls),
                        exc_info=True)  # fmt: skip

    async def remove_reference(self, media_id: str, ref: str) -> None:
        oid = _stored_id(media_id)
        if oid is not None:
            await self.collection.update_one({"_id": oid}, {"$pull": {"referenced_by": ref}})

    async def unreferenced_before(self, cutoff: datetime) -> list[Document]:
        return [
            doc
            async for doc in self.collection.find(
                {"referenced_by": {"$size": 0}, "created_at": {"$lt": cutoff}}
            )
        ]

    async def of_owner(self, owner_id: str) -> list[Document]:
        cursor = self.collection.find({"owner_id": owner_id}).sort("created_at", ASCENDING)
        return [doc async for doc in cursor]

    async def mark_deleting(self, media_id: str, now: datetime) -> Document | None:
        """Mark the media as being deleted (nothing new may refer to it or be added to
        it from now on) and return it as it is at this moment; None if it is gone."""
        oid = _stored_id(media_id)
        if oid is None:
            return None
        return await self.collection.find_one_and_update(
            {"_id": oid},
            {"$set": {"deleting_at": now}},
            return_document=ReturnDocument.AFTER,
        )

    async def deleting(self, limit: int) -> list[Document]:
        """Media whose deletion began and did not finish (a crash in between)."""
        cursor = self.collection.find({"deleting_at": {"$ne": None}}).limit(limit)
        return [doc async for doc in cursor]

    async def set_webp(self, media_id: str, entries: dict[str, Document]) -> bool:
        """Name the WebP files of a media still waiting for them (and not being
        deleted); whether this call did. One of two concurrent callers wins."""
        oid = _stored_id(media_id)
        if oid is None:
            return False
        result = await self.collection.update_one(
            {"_id": oid, "webp_pending": True, "deleting_at": None},
            {
                "$set": {f"variants.{name}.webp": entry for name, entry in entries.items()},
                "$unset": {"webp_pending": ""},
            },
        )
        return result.modified_count == 1

    async def give_up_webp(self, media_id: str) -> None:
        """No WebP for this media (its JPEGs would not decode): it is served as JPEG."""
        oid = _stored_id(media_id)
        if oid is not None:
            await self.collection.update_one({"_id": oid}, {"$unset": {"webp_pending": ""}})

    async def webp_pending_before(self, cutoff: datetime, limit: int) -> list[str]:
        """Ids of media made before ``cutoff`` still waiting for their WebP, oldest first."""
        cursor = (
            self.collection.find(
                {"webp_pending": True, "created_at": {"$lt": cutoff}}, projection={"_id": 1}
            )
            .sort("created_at", ASCENDING)
            .limit(limit)
        )
        return [str(doc["_id"]) async for doc in cursor]

    async def delete(self, media_id: str) -> None:
        oid = _stored_id(media_id)
        if oid is not None:
            await self.collection.delete_one({"_id": oid})

    async def existing_ids(self, media_ids: list[str]) -> set[str]:
        oids = [oid for oid in map(_stored_id, media_ids) if oid is not None]
        cursor = self.collection.find({"_id": {"$in": oids}}, projection={"_id": 1})
        return {str(doc["_id"]) async for doc in cursor}

    # -- moderation (handlers/media/moderation.py) -------------------------------------

    async def start_moderation(self, media_id: str) -> bool:
        """Mark the media ``pending`` unless it has a moderation state already; whether
        this call did (the one caller that then asks WeChat)."""
        oid = _stored_id(media_id)
        if oid is None:
            return False
        result = await self.collection.update_one(
            {"_id": oid, "moderation": {"$exists": False}},
            {"$set": {"moderation": "pending", "moderation_asked": False}},
        )
        return result.modified_count == 1

    async def moderation_asked(self, media_id: str) -> None:
        """WeChat took the check (its verdict will be pushed)."""
        oid = _stored_id(media_id)
        if oid is not None:
            await self.collection.update_one({"_id": oid}, {"$set": {"moderation_asked": True}})

    async def moderation_not_asked(self, before: datetime, limit: int) -> list[Document]:
        """Held media whose check WeChat never took (it was unreachable), oldest first."""
        cursor = self.collection.find(
            {"moderation": "pending", "moderation_asked": False, "created_at": {"$lt": before}}
        )
        return [doc async for doc in cursor.sort("created_at", ASCENDING).limit(limit)]

    async def set_moderation(self, media_id: str, state: str) -> None:
        oid = _stored_id(media_id)
        if oid is not None:
            await self.collection.update_one({"_id": oid}, {"$set": {"moderation": state}})


class MediaCheckRepo:
    """``media_checks``: one document per mediaCheckAsync call, keyed by its trace_id."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db["media_checks"]

    async def insert(self, trace_id: str, media_id: str, now: datetime) -> None:
        await self.collection.update_one(
            {"_id": trace_id},
            {"$setOnInsert": {"media_id": media_id, "created_at": now, "verdict": None}},
            upsert=True,
        )

    async def decide(
        self, trace_id: str, suggest: str, label: int, now: datetime
    ) -> tuple[bool, str | None]:
        """Record the verdict once: (first time, media id); (False, None) if unknown."""
        before = await self.collection.find_one_and_update(
            {"_id": trace_id, "verdict": None},
            {"$set": {"verdict": suggest, "label": label, "decided_at": now}},
        )
        if before is not None:
            return True, str(before["media_id"])
        known = await self.collection.find_one({"_id": trace_id}, projection={"media_id": 1})
        return False, str(known["media_id"]) if known else None
