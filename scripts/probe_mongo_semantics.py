#!/usr/bin/env python3
"""Probe a MongoDB wire-protocol server for the semantics jiangxin relies on.

    python scripts/probe_mongo_semantics.py mongodb://127.0.0.1:27018/

Prints PASS/FAIL per check and exits 1 if any check fails (2 if the server does
not answer). Judges candidate servers (MongoDB, FerretDB, mongo-java-server):
atomicity of single-document updates under concurrency above all, then the
query/update operators, indexes, GridFS and BSON types our code uses.

Works in a throw-away database ``jx_probe_<random>`` that it drops at the end.
A standalone tool, not part of the app: it talks to MongoDB directly on purpose.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from gridfs import AsyncGridFSBucket, NoFile

# A probe of the server itself, outside the app's repository layer (DESIGN.md).
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, MongoClient, ReturnDocument  # noqa: TID251
from pymongo.asynchronous.database import AsyncDatabase  # noqa: TID251
from pymongo.errors import DuplicateKeyError, OperationFailure, PyMongoError  # noqa: TID251
from pymongo.results import UpdateResult  # noqa: TID251

Doc = dict[str, Any]
Db = AsyncDatabase[Doc]


class CheckFailed(Exception):
    """A semantic mismatch (as opposed to a server error)."""


def expect(cond: bool, what: str) -> None:
    if not cond:
        raise CheckFailed(what)


# ------------------------------------------------------------------ checks


async def check_ping(db: Db) -> str:
    reply = await db.client.admin.command("ping")
    expect(reply.get("ok") == 1, f"ping replied {reply}")
    info = await db.client.server_info()
    try:
        hello = await db.client.admin.command("hello")
        how = "hello"
    except OperationFailure:  # PyMongo handshakes with legacy isMaster; fine for the app
        hello = await db.client.admin.command("isMaster")
        how = "no 'hello' command, isMaster"
    return f"version={info.get('version')} maxWireVersion={hello.get('maxWireVersion')} ({how})"


async def check_unique_duplicate(db: Db) -> str:
    c = db.uniq
    await c.create_index("email", unique=True)
    await c.insert_one({"email": "a@x"})
    try:
        await c.insert_one({"email": "a@x"})
    except DuplicateKeyError:
        pass
    else:
        raise CheckFailed("second insert with the same unique key succeeded")
    n = await c.count_documents({"email": "a@x"})
    expect(n == 1, f"{n} documents with the unique key")
    # update_one moving a document onto a taken key must fail as well
    await c.insert_one({"email": "b@x"})
    try:
        await c.update_one({"email": "b@x"}, {"$set": {"email": "a@x"}})
    except DuplicateKeyError:
        pass
    else:
        raise CheckFailed("update onto a taken unique key succeeded")
    return "DuplicateKeyError on insert and update"


async def check_atomic_inc_async(db: Db) -> str:
    c = db.counter
    await c.insert_one({"_id": 1, "n": 0})
    n_ops = 200
    await asyncio.gather(*(c.update_one({"_id": 1}, {"$inc": {"n": 1}}) for _ in range(n_ops)))
    doc = await c.find_one({"_id": 1})
    n = doc["n"] if doc else None
    expect(n == n_ops, f"n={n} after {n_ops} concurrent $inc (lost updates)")
    return f"n={n}"


async def check_inc_returns_distinct(db: Db) -> str:
    """Each concurrent ``$inc`` find_one_and_update returns its own value (waitlist
    places), and the projection of the document returned is applied."""
    c = db.places
    await c.insert_one({"_id": 1, "seq": 0, "big": list(range(100))})
    n_ops = 300
    docs = await asyncio.gather(
        *(
            c.find_one_and_update(
                {"_id": 1},
                {"$inc": {"seq": 1}},
                projection={"seq": 1},
                return_document=ReturnDocument.AFTER,
            )
            for _ in range(n_ops)
        )
    )
    seqs = sorted(doc["seq"] for doc in docs if doc)
    expect(seqs == list(range(1, n_ops + 1)), f"{len(set(seqs))} distinct of {n_ops}")
    expect(all(doc is not None and "big" not in doc for doc in docs), "projection ignored")
    return f"{n_ops} distinct"


def _threaded_inc(uri: str, dbname: str) -> str:
    n_threads, per_thread = 20, 25
    client: MongoClient[Doc] = MongoClient(uri, maxPoolSize=n_threads)
    try:
        c = client[dbname].counter_threads
        c.insert_one({"_id": 1, "n": 0})
        barrier = threading.Barrier(n_threads)
        errors: list[BaseException] = []

        def work() -> None:
            try:
                barrier.wait()
                for _ in range(per_thread):
                    c.update_one({"_id": 1}, {"$inc": {"n": 1}})
            except BaseException as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=work) for _ in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        doc = c.find_one({"_id": 1})
        n = doc["n"] if doc else None
        expect(n == n_threads * per_thread, f"n={n} after {n_threads}x{per_thread} threaded $inc")
        return f"n={n}"
    finally:
        client.close()


async def check_atomic_inc_threads(db: Db) -> str:
    return await asyncio.to_thread(_threaded_inc, PROBE_URI, db.name)


async def check_cas_single_winner(db: Db) -> str:
    """A compare-and-set on a revision: exactly one caller may win, round after round."""
    c = db.cas
    await c.insert_one({"_id": 1, "rev": 1})
    rounds, callers = 5, 20
    for rev in range(1, rounds + 1):
        results = await asyncio.gather(
            *(
                c.find_one_and_update(
                    {"_id": 1, "rev": rev},
                    {"$inc": {"rev": 1}},
                    return_document=ReturnDocument.AFTER,
                )
                for _ in range(callers)
            )
        )
        winners = [r for r in results if r is not None]
        doc = await c.find_one({"_id": 1})
        now = doc["rev"] if doc else None
        expect(
            len(winners) == 1,
            f"round {rev}: {len(winners)} winners of a compare-and-set (rev now {now})",
        )
        expect(now == rev + 1, f"round {rev}: rev={now}, expected {rev + 1}")
        expect(winners[0]["rev"] == rev + 1, f"round {rev}: winner saw {winners[0]}")
    return f"{rounds} rounds x {callers} callers: 1 winner each"


async def check_cas_update_one(db: Db) -> str:
    c = db.cas2
    await c.insert_one({"_id": 1, "rev": 1, "owner": None})
    results: list[UpdateResult] = await asyncio.gather(
        *(c.update_one({"_id": 1, "rev": 1}, {"$set": {"rev": 2, "owner": i}}) for i in range(20))
    )
    won = sum(r.modified_count for r in results)
    expect(won == 1, f"{won} update_one callers modified the document (want 1)")
    return "modified_count sums to 1"


async def check_concurrent_upsert_unique(db: Db) -> str:
    c = db.upserts
    await c.create_index("key", unique=True)
    dup_errors = 0

    async def one(i: int) -> None:
        nonlocal dup_errors
        try:
            await c.update_one(
                {"key": "k1"}, {"$setOnInsert": {"by": i}, "$inc": {"hits": 1}}, upsert=True
            )
        except DuplicateKeyError:
            dup_errors += 1  # allowed by MongoDB (the caller retries); never a 2nd document

    await asyncio.gather(*(one(i) for i in range(20)))
    n = await c.count_documents({"key": "k1"})
    expect(n == 1, f"{n} documents for one unique key after concurrent upserts")
    doc = await c.find_one({"key": "k1"})
    hits = doc["hits"] if doc else None
    expect(hits == 20 - dup_errors, f"hits={hits}, dup errors={dup_errors}")
    return f"1 document, hits={hits}, DuplicateKeyError x{dup_errors}"


async def check_concurrent_upsert_no_index(db: Db) -> str:
    """Upsert by _id (always unique) from many callers: one document, all increments kept."""
    c = db.upserts_id
    await asyncio.gather(
        *(c.update_one({"_id": "u1"}, {"$inc": {"hits": 1}}, upsert=True) for _ in range(20))
    )
    n = await c.count_documents({})
    doc = await c.find_one({"_id": "u1"})
    hits = doc["hits"] if doc else None
    expect(n == 1 and hits == 20, f"{n} documents, hits={hits}")
    return "1 document, hits=20"


async def check_fou_upsert_set_on_insert(db: Db) -> str:
    c = db.fou
    first = await c.find_one_and_update(
        {"_id": "s1"},
        {"$setOnInsert": {"created": 1}, "$set": {"seen": 1}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    expect(first == {"_id": "s1", "created": 1, "seen": 1}, f"first upsert returned {first}")
    before = await c.find_one_and_update(
        {"_id": "s1"},
        {"$setOnInsert": {"created": 2}, "$set": {"seen": 2}},
        upsert=True,
        return_document=ReturnDocument.BEFORE,
    )
    expect(before == first, f"BEFORE returned {before}")
    doc = await c.find_one({"_id": "s1"})
    expect(doc == {"_id": "s1", "created": 1, "seen": 2}, f"after 2nd upsert: {doc}")
    none = await c.find_one_and_update({"_id": "nope"}, {"$set": {"x": 1}})
    expect(none is None, f"no match without upsert returned {none}")
    return "setOnInsert once, BEFORE/AFTER right"


async def check_push_each_slice(db: Db) -> str:
    c = db.push
    await c.insert_one({"_id": 1, "a": [1, 2]})
    await c.update_one({"_id": 1}, {"$push": {"a": {"$each": [3, 4, 5], "$slice": -3}}})
    doc = await c.find_one({"_id": 1})
    expect(doc is not None and doc["a"] == [3, 4, 5], f"$slice -3 gave {doc}")
    await c.update_one({"_id": 1}, {"$push": {"a": {"$each": [0], "$position": 0, "$slice": 3}}})
    doc = await c.find_one({"_id": 1})
    expect(doc is not None and doc["a"] == [0, 3, 4], f"$position 0 + $slice 3 gave {doc}")
    await c.update_one({"_id": 2}, {"$push": {"a": {"$each": [1], "$slice": -5}}}, upsert=True)
    doc = await c.find_one({"_id": 2})
    expect(doc is not None and doc["a"] == [1], f"$push on upsert gave {doc}")
    return "ok"


async def check_add_to_set(db: Db) -> str:
    c = db.addset
    await c.insert_one({"_id": 1, "tags": ["a"]})
    await c.update_one({"_id": 1}, {"$addToSet": {"tags": "a"}})
    await c.update_one({"_id": 1}, {"$addToSet": {"tags": "b"}})
    await c.update_one({"_id": 1}, {"$addToSet": {"tags": {"$each": ["b", "c", "c"]}}})
    doc = await c.find_one({"_id": 1})
    expect(doc is not None and doc["tags"] == ["a", "b", "c"], f"tags={doc}")
    r = await c.update_one({"_id": 1}, {"$addToSet": {"tags": "a"}})
    expect(r.matched_count == 1 and r.modified_count == 0, f"no-op $addToSet: {r.raw_result}")
    return "ok"


async def check_pull(db: Db) -> str:
    c = db.pull
    await c.insert_one({"_id": 1, "a": [1, 2, 3, 2], "o": [{"k": 1}, {"k": 2}]})
    await c.update_one({"_id": 1}, {"$pull": {"a": 2, "o": {"k": 1}}})
    doc = await c.find_one({"_id": 1})
    expect(doc is not None and doc["a"] == [1, 3] and doc["o"] == [{"k": 2}], f"{doc}")
    await c.update_one({"_id": 1}, {"$pull": {"a": {"$in": [1, 3]}}})
    doc = await c.find_one({"_id": 1})
    expect(doc is not None and doc["a"] == [], f"$pull $in: {doc}")
    return "ok"


async def check_size_zero(db: Db) -> str:
    c = db.size
    await c.insert_many(
        [{"_id": 1, "a": []}, {"_id": 2, "a": [1]}, {"_id": 3}, {"_id": 4, "a": [1, 2]}]
    )
    ids = [d["_id"] async for d in c.find({"a": {"$size": 0}}).sort("_id", ASCENDING)]
    expect(ids == [1], f"$size 0 matched {ids}")
    ids = [d["_id"] async for d in c.find({"a": {"$size": 2}})]
    expect(ids == [4], f"$size 2 matched {ids}")
    return "ok"


async def check_regex_id(db: Db) -> str:
    c = db.regex
    await c.insert_many(
        [{"_id": "user:1"}, {"_id": "user:2"}, {"_id": "group:1"}, {"_id": "xuser:3"}]
    )
    ids = sorted([d["_id"] async for d in c.find({"_id": {"$regex": "^user:"}})])
    expect(ids == ["user:1", "user:2"], f"^user: matched {ids}")
    ids = sorted([d["_id"] async for d in c.find({"_id": {"$regex": "USER", "$options": "i"}})])
    expect(ids == ["user:1", "user:2", "xuser:3"], f"USER/i matched {ids}")
    ids = sorted([d["_id"] async for d in c.find({"_id": {"$regex": r"^user:\d$"}})])
    expect(ids == ["user:1", "user:2"], f"escaped regex matched {ids}")
    return "ok"


async def check_set_unset_logic(db: Db) -> str:
    c = db.logic
    await c.insert_many([{"_id": i, "v": i, "tmp": "x", "s": {"a": 1}} for i in range(6)])
    await c.update_many({"v": {"$gte": 3}}, {"$unset": {"tmp": ""}, "$set": {"s.b": 2}})
    doc = await c.find_one({"_id": 4})
    expect(doc == {"_id": 4, "v": 4, "s": {"a": 1, "b": 2}}, f"$unset/$set dotted: {doc}")
    ids = sorted([d["_id"] async for d in c.find({"$or": [{"v": {"$lt": 1}}, {"v": {"$gt": 4}}]})])
    expect(ids == [0, 5], f"$or matched {ids}")
    ids = sorted(
        [
            d["_id"]
            async for d in c.find({"$and": [{"v": {"$lte": 3}}, {"tmp": {"$exists": False}}]})
        ]
    )
    expect(ids == [3], f"$and/$exists matched {ids}")
    return "ok"


async def check_distinct(db: Db) -> str:
    c = db.distinct
    await c.insert_many(
        [{"c": "a", "t": ["x", "y"]}, {"c": "b", "t": ["y"]}, {"c": "a"}, {"c": "c", "t": []}]
    )
    vals = sorted(await c.distinct("c"))
    expect(vals == ["a", "b", "c"], f"distinct c = {vals}")
    vals = sorted(await c.distinct("t"))
    expect(vals == ["x", "y"], f"distinct over arrays = {vals}")
    vals = sorted(await c.distinct("c", {"t": "y"}))
    expect(vals == ["a", "b"], f"distinct with filter = {vals}")
    return "ok"


async def check_in_multikey_index(db: Db) -> str:
    c = db.multikey
    await c.create_index("members")
    await c.insert_many(
        [
            {"_id": 1, "members": ["u1", "u2"]},
            {"_id": 2, "members": ["u3"]},
            {"_id": 3, "members": []},
            {"_id": 4, "members": ["u2", "u4"]},
        ]
    )
    ids = sorted([d["_id"] async for d in c.find({"members": {"$in": ["u2", "u3"]}})])
    expect(ids == [1, 2, 4], f"$in on multikey matched {ids}")
    ids = sorted([d["_id"] async for d in c.find({"members": "u4"})])
    expect(ids == [4], f"equality on multikey matched {ids}")
    await c.update_one({"_id": 2}, {"$pull": {"members": "u3"}})
    ids = sorted([d["_id"] async for d in c.find({"members": {"$in": ["u3"]}})])
    expect(ids == [], f"index not updated after $pull: {ids}")
    return "ok"


async def check_sort_three_keys(db: Db) -> str:
    c = db.sort3
    docs = [
        {"_id": i, "a": a, "b": b, "c": cc}
        for i, (a, b, cc) in enumerate(
            [(1, 2, 3), (1, 1, 9), (2, 0, 0), (1, 2, 1), (0, 5, 5), (1, 1, 1), (2, 0, 7)]
        )
    ]
    await c.insert_many(docs)
    await c.create_index([("a", ASCENDING), ("b", DESCENDING), ("c", ASCENDING)])
    got = [
        (d["a"], d["b"], d["c"])
        async for d in c.find({}).sort([("a", ASCENDING), ("b", DESCENDING), ("c", ASCENDING)])
    ]
    want = sorted(((d["a"], d["b"], d["c"]) for d in docs), key=lambda t: (t[0], -t[1], t[2]))
    expect(got == want, f"got {got}, want {want}")
    page = [
        d["_id"]
        async for d in c.find({"a": 1})
        .sort([("a", ASCENDING), ("b", DESCENDING), ("c", ASCENDING)])
        .skip(1)
        .limit(2)
    ]
    expect(page == [0, 5], f"skip/limit page = {page}")
    return "ok"


async def check_count_documents(db: Db) -> str:
    c = db.count
    await c.insert_many([{"i": i, "even": i % 2 == 0} for i in range(25)])
    n = await c.count_documents({})
    expect(n == 25, f"count all = {n}")
    n = await c.count_documents({"even": True, "i": {"$gte": 10}})
    expect(n == 8, f"count filtered = {n}")
    n = await c.count_documents({"even": True}, skip=3, limit=5)
    expect(n == 5, f"count skip/limit = {n}")
    n = await c.estimated_document_count()
    expect(n == 25, f"estimated = {n}")
    return "ok"


async def check_drop_database(db: Db) -> str:
    client = db.client
    name = db.name + "_drop"
    await client[name].x.insert_one({"a": 1})
    expect(name in await client.list_database_names(), "database not listed after insert")
    await client.drop_database(name)
    expect(name not in await client.list_database_names(), "database still listed after drop")
    n = await client[name].x.count_documents({})
    expect(n == 0, f"{n} documents survived drop_database")
    return "ok"


async def check_gridfs(db: Db) -> str:
    bucket = AsyncGridFSBucket(db, bucket_name="media")
    data = os.urandom(600 * 1024 + 17)  # several 255 KiB chunks
    fid = await bucket.upload_from_stream(
        "photo.jpg", data, metadata={"contentType": "image/jpeg", "owner": "u1"}
    )
    stream = await bucket.open_download_stream(fid)
    got = await stream.read()
    expect(got == data, f"downloaded {len(got)} bytes != uploaded {len(data)}")
    expect(stream.length == len(data), f"length {stream.length}")
    meta = stream.metadata or {}
    expect(meta.get("owner") == "u1", f"metadata {meta}")
    n_chunks = await db["media.chunks"].count_documents({"files_id": fid})
    expect(n_chunks == 3, f"{n_chunks} chunks")
    await bucket.delete(fid)
    try:
        await bucket.open_download_stream(fid)
    except NoFile:
        pass
    else:
        raise CheckFailed("file still downloadable after delete")
    n_chunks = await db["media.chunks"].count_documents({"files_id": fid})
    expect(n_chunks == 0, f"{n_chunks} chunks left after delete")
    return "600 KiB upload/download/delete"


async def check_projection(db: Db) -> str:
    c = db.proj
    await c.insert_one({"_id": 1, "a": 1, "b": {"x": 1, "y": 2}, "c": [1, 2, 3]})
    doc = await c.find_one({"_id": 1}, {"a": 1, "b.x": 1})
    expect(doc == {"_id": 1, "a": 1, "b": {"x": 1}}, f"include: {doc}")
    doc = await c.find_one({"_id": 1}, {"_id": 0, "a": 1})
    expect(doc == {"a": 1}, f"include without _id: {doc}")
    doc = await c.find_one({"_id": 1}, {"b": 0, "c": 0})
    expect(doc == {"_id": 1, "a": 1}, f"exclude: {doc}")
    doc = await c.find_one({"_id": 1}, {"c": {"$slice": -2}, "a": 1})
    expect(doc == {"_id": 1, "a": 1, "c": [2, 3]}, f"$slice projection: {doc}")
    return "ok"


async def check_delete_many(db: Db) -> str:
    c = db.delmany
    await c.insert_many([{"i": i} for i in range(10)])
    r = await c.delete_many({"i": {"$lt": 4}})
    expect(r.deleted_count == 4, f"deleted {r.deleted_count}")
    n = await c.count_documents({})
    expect(n == 6, f"{n} left")
    r = await c.delete_many({"i": {"$lt": 0}})
    expect(r.deleted_count == 0, f"deleted {r.deleted_count} with no match")
    return "ok"


async def check_compound_unique(db: Db) -> str:
    c = db.compound
    await c.create_index([("owner", ASCENDING), ("name", ASCENDING)], unique=True)
    await c.insert_many([{"owner": "u1", "name": "a"}, {"owner": "u1", "name": "b"}])
    await c.insert_one({"owner": "u2", "name": "a"})
    try:
        await c.insert_one({"owner": "u1", "name": "a"})
    except DuplicateKeyError:
        pass
    else:
        raise CheckFailed("duplicate (owner, name) pair accepted")
    n = await c.count_documents({})
    expect(n == 3, f"{n} documents")
    return "ok"


async def check_list_indexes(db: Db) -> str:
    c = db.listidx
    await c.create_index("a", unique=True, name="a_unique")
    await c.create_index([("b", ASCENDING), ("c", DESCENDING)])
    idx = {i["name"]: i async for i in await c.list_indexes()}
    expect(set(idx) == {"_id_", "a_unique", "b_1_c_-1"}, f"indexes {sorted(idx)}")
    expect(idx["a_unique"].get("unique") is True, f"a_unique = {idx['a_unique']}")
    expect(dict(idx["b_1_c_-1"]["key"]) == {"b": 1, "c": -1}, f"key {idx['b_1_c_-1']}")
    info = await c.index_information()
    expect("a_unique" in info, f"index_information {info}")
    await c.drop_index("a_unique")
    names = [i["name"] async for i in await c.list_indexes()]
    expect("a_unique" not in names, f"dropped index still listed: {names}")
    return "ok"


async def check_datetime_tz(db: Db) -> str:
    c = db.dates
    cst = timezone(timedelta(hours=8))
    when = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=cst)
    await c.insert_one({"_id": 1, "t": when})
    doc = await c.find_one({"_id": 1})
    got = doc["t"] if doc else None
    expect(got == when, f"round trip {when!r} -> {got!r}")
    expect(got is not None and got.tzinfo is not None, "not tz-aware")
    n = await c.count_documents({"t": {"$gte": datetime(2024, 5, 5, 23, 8, 9, tzinfo=UTC)}})
    expect(n == 1, "range query on datetime failed")
    return f"{got.isoformat() if got else None}"


async def check_bytes(db: Db) -> str:
    c = db.bytes
    blob = bytes(range(256)) * 4
    await c.insert_one({"_id": 1, "b": blob, "empty": b""})
    doc = await c.find_one({"_id": 1})
    expect(doc is not None and doc["b"] == blob, "bytes changed in round trip")
    expect(doc is not None and isinstance(doc["b"], bytes), f"type {type(doc and doc['b'])}")
    expect(doc is not None and doc["empty"] == b"", "empty bytes changed")
    n = await c.count_documents({"b": blob})
    expect(n == 1, "equality query on bytes failed")
    return "ok"


CHECKS: list[tuple[str, Callable[[Db], Awaitable[str]]]] = [
    ("ping", check_ping),
    ("unique index: duplicate -> DuplicateKeyError", check_unique_duplicate),
    ("atomic: 200 concurrent $inc (asyncio)", check_atomic_inc_async),
    ("atomic: 20 threads x 25 $inc (MongoClient)", check_atomic_inc_threads),
    ("atomic: 300 concurrent $inc find_one_and_update -> 300 values", check_inc_returns_distinct),
    ("atomic: 5x20 concurrent find_one_and_update CAS -> 1 winner", check_cas_single_winner),
    ("atomic: 20 concurrent update_one CAS -> 1 modified", check_cas_update_one),
    ("atomic: 20 concurrent upserts on a unique field -> 1 doc", check_concurrent_upsert_unique),
    ("atomic: 20 concurrent upserts by _id -> 1 doc", check_concurrent_upsert_no_index),
    ("find_one_and_update upsert + $setOnInsert", check_fou_upsert_set_on_insert),
    ("$push $each + $slice (+$position)", check_push_each_slice),
    ("$addToSet (+$each)", check_add_to_set),
    ("$pull (value, condition, $in)", check_pull),
    ("query {field: {$size: 0}}", check_size_zero),
    ("$regex on _id", check_regex_id),
    ("$set/$unset dotted, $or/$and/$lt/$lte/$gt/$exists", check_set_unset_logic),
    ("distinct", check_distinct),
    ("$in on an indexed multikey array", check_in_multikey_index),
    ("sort on 3 keys (+skip/limit)", check_sort_three_keys),
    ("count_documents", check_count_documents),
    ("drop_database", check_drop_database),
    ("GridFS AsyncGridFSBucket upload/download/delete", check_gridfs),
    ("find with projection", check_projection),
    ("delete_many", check_delete_many),
    ("compound unique index", check_compound_unique),
    ("list_indexes / drop_index", check_list_indexes),
    ("tz-aware datetime round trip", check_datetime_tz),
    ("bytes (Binary) round trip", check_bytes),
]

PROBE_URI = ""


async def main(uri: str) -> int:
    global PROBE_URI
    PROBE_URI = uri
    client: AsyncMongoClient[Doc] = AsyncMongoClient(
        uri, tz_aware=True, serverSelectionTimeoutMS=5000, maxPoolSize=100
    )
    try:
        try:
            await client.admin.command("ping")
        except PyMongoError as e:
            print(f"FAIL cannot reach {uri}: {e}")
            return 2
        dbname = f"jx_probe_{os.urandom(4).hex()}"
        db = client[dbname]
        failed = 0
        for name, fn in CHECKS:
            start = time.perf_counter()
            try:
                detail = await asyncio.wait_for(fn(db), timeout=60)
                status = "PASS"
            except CheckFailed as e:
                status, detail = "FAIL", str(e)
            except Exception as e:  # a server error is a failed check too
                status, detail = "FAIL", f"{type(e).__name__}: {e}"
            ms = (time.perf_counter() - start) * 1000
            failed += status == "FAIL"
            print(f"{status} {name} ({ms:.0f} ms): {detail}", flush=True)
        try:
            await client.drop_database(dbname)
        except PyMongoError as e:
            print(f"note: could not drop {dbname}: {e}")
        print(f"{len(CHECKS) - failed}/{len(CHECKS)} passed")
        return 1 if failed else 0
    finally:
        await client.close()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        sys.exit(2)
    sys.exit(asyncio.run(main(sys.argv[1])))
