"""The only code that touches ``users`` and ``sessions``.

Uniqueness lives in the database: ``openid`` and ``username`` are unique indexes at the
top level of the document. An account without one holds ``~<its own id>`` there instead
(no partial indexes on the MongoDB-compatible test server; see DESIGN.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from server.paging import Keyset, Position, SortField
from server.principal import Role
from server.repo import find_page

Document = dict[str, Any]

ABSENT_PREFIX = "~"
# Staff accounts by username (unique): the list of accounts an admin pages through.
STAFF_ACCOUNTS = Keyset("staff_accounts", (SortField("username", "str"),))
# Every username but the ``~<id>`` of accounts without one: all that sorts below "~", and
# all from the character after it (usernames are compared as UTF-8 bytes).
_HAS_USERNAME: Document = {
    "$or": [
        {"username": {"$lt": ABSENT_PREFIX}},
        {"username": {"$gte": chr(ord(ABSENT_PREFIX) + 1)}},
    ]
}


class UsernameTaken(Exception):
    pass


def staff_username(text: str) -> str:
    """A staff username as stored and looked up: case does not matter ("Ms-Li" is
    "ms-li"; a phone's keyboard capitalises the first letter). Usernames are ASCII
    (``schemas.Username``), so lower-casing is the whole of it."""
    return text.lower()


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: str
    nickname: str
    roles: list[Role]
    created_at: datetime
    openid: str | None
    username: str | None
    password_hash: str | None
    avatar_media_id: str | None
    real_name: str | None
    phone: str | None
    school_id: str | None
    class_id: str | None
    deleted_at: datetime | None
    disabled_at: datetime | None = None  # a disabled staff account signs in nowhere

    @property
    def is_staff(self) -> bool:
        """A staff account (signs in with a username and password), not a WeChat one."""
        return self.username is not None and self.password_hash is not None

    @classmethod
    def from_doc(cls, doc: Document) -> UserRecord:
        def present(value: Any) -> str | None:
            return None if not value or str(value).startswith(ABSENT_PREFIX) else str(value)

        return cls(
            id=str(doc["_id"]),
            nickname=doc.get("nickname") or "",
            roles=[Role(role) for role in doc.get("roles", [])],
            created_at=doc["created_at"],
            openid=present(doc.get("openid")),
            username=present(doc.get("username")),
            password_hash=doc.get("password_hash"),
            avatar_media_id=doc.get("avatar_media_id"),
            real_name=doc.get("real_name"),
            phone=doc.get("phone"),
            school_id=doc.get("school_id"),
            class_id=doc.get("class_id"),
            deleted_at=doc.get("deleted_at"),
            disabled_at=doc.get("disabled_at"),
        )


def object_id(value: str) -> ObjectId | None:
    """The ObjectId behind an opaque id, or None when it cannot be one (-> 404)."""
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        return None


class UserRepo:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db["users"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("openid", ASCENDING)], unique=True)
        await self.collection.create_index([("username", ASCENDING)], unique=True)

    async def get(self, user_id: str) -> UserRecord | None:
        oid = object_id(user_id)
        if oid is None:
            return None
        doc = await self.collection.find_one({"_id": oid, "deleted_at": None})
        return UserRecord.from_doc(doc) if doc else None

    async def nicknames(self, user_ids: list[str]) -> dict[str, str]:
        """The nickname of each of ``user_ids`` that is a live account, in one query."""
        oids = [oid for oid in map(object_id, user_ids) if oid is not None]
        if not oids:
            return {}
        cursor = self.collection.find(
            {"_id": {"$in": oids}, "deleted_at": None}, projection={"nickname": 1}
        )
        return {str(doc["_id"]): doc.get("nickname") or "" async for doc in cursor}

    async def get_many(self, user_ids: list[str]) -> list[UserRecord]:
        """The live accounts among ``user_ids``, in one query."""
        oids = [oid for oid in map(object_id, dict.fromkeys(user_ids)) if oid is not None]
        if not oids:
            return []
        cursor = self.collection.find({"_id": {"$in": oids}, "deleted_at": None})
        return [UserRecord.from_doc(doc) async for doc in cursor]

    async def find_by_username(self, username: str) -> UserRecord | None:
        # As typed too: an account made before usernames were lower-cased keeps signing
        # in under the name it was given.
        names = list(dict.fromkeys([staff_username(username), username]))
        doc = await self.collection.find_one({"username": {"$in": names}, "deleted_at": None})
        return UserRecord.from_doc(doc) if doc else None

    async def upsert_wechat_user(self, openid: str, nickname: str, now: datetime) -> UserRecord:
        """The account of ``openid``, created on first sign-in; safe under concurrent logins."""
        oid = ObjectId()
        insert = {
            "_id": oid,
            "username": ABSENT_PREFIX + str(oid),
            "nickname": nickname,
            "roles": [Role.resident.value],
            "created_at": now,
            "deleted_at": None,
        }
        for _ in range(3):
            try:
                doc = await self.collection.find_one_and_update(
                    {"openid": openid},
                    {"$setOnInsert": insert},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:
                continue  # a concurrent first login won the insert: read theirs
            if doc is not None:
                return UserRecord.from_doc(doc)
        doc = await self.collection.find_one({"openid": openid})
        if doc is None:
            raise RuntimeError("WeChat account neither inserted nor found")
        return UserRecord.from_doc(doc)

    async def create_staff(
        self, username: str, password_hash: str, nickname: str, roles: list[Role], now: datetime
    ) -> UserRecord:
        oid = ObjectId()
        doc: Document = {
            "_id": oid,
            "openid": ABSENT_PREFIX + str(oid),
            "username": staff_username(username),
            "password_hash": password_hash,
            "nickname": nickname,
            "roles": sorted({Role.resident.value, *(role.value for role in roles)}),
            "created_at": now,
            "deleted_at": None,
        }
        try:
            await self.collection.insert_one(doc)
        except DuplicateKeyError:
            raise UsernameTaken(username) from None
        return UserRecord.from_doc(doc)

    async def set_password_and_roles(
        self, user_id: str, password_hash: str, roles: list[Role]
    ) -> None:
        await self.collection.update_one(
            {"_id": ObjectId(user_id)},
            {
                "$set": {
                    "password_hash": password_hash,
                    "roles": sorted({Role.resident.value, *(role.value for role in roles)}),
                }
            },
        )

    async def staff_page(self, position: Position | None, limit: int) -> list[UserRecord]:
        """Live staff accounts by username, after ``position`` (``STAFF_ACCOUNTS``)."""
        query: Document = {**_HAS_USERNAME, "deleted_at": None}
        docs = await find_page(self.collection, query, STAFF_ACCOUNTS, position, limit)
        return [UserRecord.from_doc(doc) for doc in docs]

    async def set_password(self, user_id: str, password_hash: str, now: datetime) -> bool:
        """A staff account's new password; False if there is no such live account."""
        oid = object_id(user_id)
        if oid is None:
            return False
        done = await self.collection.update_one(
            {"_id": oid, "deleted_at": None, "password_hash": {"$exists": True}},
            {"$set": {"password_hash": password_hash, "updated_at": now}},
        )
        return done.matched_count == 1

    async def set_roles(self, user_id: str, roles: list[Role], now: datetime) -> UserRecord | None:
        """Exactly these roles (and ``resident``, everyone's); None if no such live account."""
        oid = object_id(user_id)
        if oid is None:
            return None
        doc = await self.collection.find_one_and_update(
            {"_id": oid, "deleted_at": None},
            {
                "$set": {
                    "roles": sorted({Role.resident.value, *(role.value for role in roles)}),
                    "updated_at": now,
                }
            },
            return_document=ReturnDocument.AFTER,
        )
        return UserRecord.from_doc(doc) if doc else None

    async def set_disabled(
        self, user_id: str, disabled_at: datetime | None, now: datetime
    ) -> UserRecord | None:
        """Disable the account (at ``disabled_at``) or enable it (None), if it is not so
        already; None when nothing changed (or there is no such live account)."""
        oid = object_id(user_id)
        if oid is None:
            return None
        state: Document = {"disabled_at": None} if disabled_at else {"disabled_at": {"$ne": None}}
        doc = await self.collection.find_one_and_update(
            {"_id": oid, "deleted_at": None, **state},
            {"$set": {"disabled_at": disabled_at, "updated_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        return UserRecord.from_doc(doc) if doc else None

    async def update_profile(
        self, user_id: str, changes: dict[str, Any], now: datetime
    ) -> UserRecord | None:
        to_set = {key: value for key, value in changes.items() if value is not None}
        to_unset = {key: "" for key, value in changes.items() if value is None}
        update: Document = {"$set": {**to_set, "updated_at": now}}
        if to_unset:
            update["$unset"] = to_unset
        doc = await self.collection.find_one_and_update(
            {"_id": ObjectId(user_id), "deleted_at": None},
            update,
            return_document=ReturnDocument.AFTER,
        )
        return UserRecord.from_doc(doc) if doc else None

    async def set_affiliation(
        self,
        user_id: str,
        *,
        school_id: str | None,
        class_id: str | None,
        add_role: Role | None = None,
        remove_role: Role | None = None,
        now: datetime,
    ) -> UserRecord | None:
        """School and class (None removes them) and one role added or taken, in one
        write; None if the account does not exist (or is erased)."""
        oid = object_id(user_id)
        if oid is None:
            return None
        affiliation = {"school_id": school_id, "class_id": class_id}
        update: Document = {
            "$set": {
                **{key: value for key, value in affiliation.items() if value is not None},
                "updated_at": now,
            }
        }
        unset = {key: "" for key, value in affiliation.items() if value is None}
        if unset:
            update["$unset"] = unset
        if add_role is not None:
            update["$addToSet"] = {"roles": add_role.value}
        if remove_role is not None:
            update["$pull"] = {"roles": remove_role.value}
        doc = await self.collection.find_one_and_update(
            {"_id": oid, "deleted_at": None}, update, return_document=ReturnDocument.AFTER
        )
        return UserRecord.from_doc(doc) if doc else None

    async def export(self, user_id: str) -> Document | None:
        oid = object_id(user_id)
        doc = await self.collection.find_one({"_id": oid}) if oid else None
        if doc is None:
            return None
        record = UserRecord.from_doc(doc)
        return {
            "id": record.id,
            "nickname": record.nickname,
            "real_name": record.real_name,
            "phone": record.phone,
            "avatar_media_id": record.avatar_media_id,
            "roles": [str(role) for role in record.roles],
            "username": record.username,
            "wechat_openid": record.openid,
            "school_id": record.school_id,
            "class_id": record.class_id,
            "created_at": record.created_at.isoformat(),
            "disabled_at": record.disabled_at.isoformat() if record.disabled_at else None,
        }

    async def anonymise(self, user_id: str, now: datetime) -> None:
        """Erase personal fields; the document stays so references elsewhere stay valid."""
        oid = object_id(user_id)
        if oid is None:
            return
        await self.collection.update_one(
            {"_id": oid},
            {
                "$set": {
                    "openid": ABSENT_PREFIX + str(oid),
                    "username": ABSENT_PREFIX + str(oid),
                    "nickname": "已注销用户",
                    "roles": [],
                    "deleted_at": now,
                },
                "$unset": {
                    "password_hash": "",
                    "avatar_media_id": "",
                    "real_name": "",
                    "phone": "",
                    "school_id": "",
                    "class_id": "",
                },
            },
        )


class SessionRepo:
    """One document per sign-in (a refresh-token family), rotated in place atomically."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db["sessions"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("user_id", ASCENDING)])
        await self.collection.create_index([("expires_at", ASCENDING)])
        await self.collection.create_index([("revoked_at", ASCENDING)])
        await self.collection.create_index([("marker_pending", ASCENDING)])

    async def create(
        self, session_id: str, user_id: str, refresh_hash: str, now: datetime, expires_at: datetime
    ) -> None:
        await self.collection.insert_one(
            {
                "_id": session_id,
                "user_id": user_id,
                "refresh_hash": refresh_hash,
                "previous_hashes": [],
                "created_at": now,
                "last_used_at": now,
                "expires_at": expires_at,
                "revoked_at": None,
                "revoked_reason": None,
            }
        )

    async def rotate(
        self, session_id: str, old_hash: str, new_hash: str, now: datetime
    ) -> Document | None:
        """Swap the current refresh hash for a new one if ``old_hash`` is still current."""
        return await self.collection.find_one_and_update(
            {
                "_id": session_id,
                "refresh_hash": old_hash,
                "revoked_at": None,
                "expires_at": {"$gt": now},
            },
            {
                "$set": {"refresh_hash": new_hash, "last_used_at": now},
                "$push": {"previous_hashes": {"$each": [old_hash], "$slice": -100}},
            },
            return_document=ReturnDocument.AFTER,
        )

    async def get(self, session_id: str) -> Document | None:
        return await self.collection.find_one({"_id": session_id})

    async def revoke(self, session_id: str, reason: str, now: datetime) -> None:
        """Mark revoked (the first reason stays), its Redis marker not yet known written."""
        first = await self.collection.update_one(
            {"_id": session_id, "revoked_at": None},
            {"$set": {"revoked_at": now, "revoked_reason": reason, "marker_pending": True}},
        )
        if first.matched_count == 0:
            await self.collection.update_one(
                {"_id": session_id}, {"$set": {"marker_pending": True}}
            )

    async def marker_written(self, session_ids: list[str]) -> None:
        await self.collection.update_many(
            {"_id": {"$in": session_ids}}, {"$unset": {"marker_pending": ""}}
        )

    async def revoked_since(self, cutoff: datetime, *, pending_only: bool) -> list[Document]:
        """Sessions revoked after ``cutoff`` (their tokens may still live), or only those
        whose Redis marker is not known to be written."""
        query: Document = {"revoked_at": {"$gte": cutoff}}
        if pending_only:
            query["marker_pending"] = True
        cursor = self.collection.find(query, projection={"revoked_at": 1, "revoked_reason": 1})
        return [doc async for doc in cursor]

    async def session_ids_of(self, user_id: str) -> list[str]:
        return [
            str(doc["_id"])
            async for doc in self.collection.find({"user_id": user_id}, projection={"_id": 1})
        ]

    async def last_sign_ins(self, user_ids: list[str]) -> dict[str, datetime]:
        """When each of ``user_ids`` last signed in, as far as their sessions still say
        (the hourly sweep deletes long-expired ones), in one query."""
        if not user_ids:
            return {}
        cursor = await self.collection.aggregate(
            [
                {"$match": {"user_id": {"$in": list(dict.fromkeys(user_ids))}}},
                {"$group": {"_id": "$user_id", "last": {"$max": "$created_at"}}},
            ]
        )
        return {str(doc["_id"]): doc["last"] async for doc in cursor}

    async def revoke_all_of(self, user_id: str, reason: str, now: datetime) -> None:
        await self.collection.update_many(
            {"user_id": user_id, "revoked_at": None},
            {"$set": {"revoked_at": now, "revoked_reason": reason}},
        )

    async def export(self, user_id: str) -> list[Document]:
        return [
            {
                "created_at": doc["created_at"].isoformat(),
                "last_used_at": doc["last_used_at"].isoformat(),
                "revoked_at": doc["revoked_at"].isoformat() if doc.get("revoked_at") else None,
            }
            async for doc in self.collection.find({"user_id": user_id}).sort("created_at", 1)
        ]

    async def strip_all_of(self, user_id: str, now: datetime) -> None:
        """Erasure: nothing of the person stays, but the (revoked) session ids do until
        the hourly sweep, so that a rebuilt Redis still knows their tokens are dead."""
        await self.collection.update_many(
            {"user_id": user_id},
            {
                "$set": {"expires_at": now},
                "$unset": {
                    "user_id": "",
                    "refresh_hash": "",
                    "previous_hashes": "",
                    "created_at": "",
                    "last_used_at": "",
                },
            },
        )

    async def delete_expired_before(self, cutoff: datetime) -> int:
        result = await self.collection.delete_many({"expires_at": {"$lt": cutoff}})
        return result.deleted_count
