"""Photo bytes in MongoDB GridFS (bucket ``media``): put, read, delete, find strays.

Every file carries ``metadata.media_id``, so files whose media record never got
written (a crash between the two writes) can be found and removed by the sweeper.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bson import Int64, ObjectId
from gridfs import DEFAULT_CHUNK_SIZE, AsyncGridFSBucket
from gridfs.errors import NoFile
from pymongo.asynchronous.database import AsyncDatabase

from server.repo import as_object_id

BUCKET = "media"
CHUNK_SIZE = DEFAULT_CHUNK_SIZE  # 255 KiB: most variants are one chunk


@dataclass(frozen=True, slots=True)
class NewFile:
    file_id: str  # BlobStore.new_id()
    filename: str
    data: bytes
    media_id: str
    content_type: str


class BlobStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.bucket = AsyncGridFSBucket(db, bucket_name=BUCKET)
        self.files = db[f"{BUCKET}.files"]
        self.chunks = db[f"{BUCKET}.chunks"]

    async def ensure_indexes(self) -> None:
        # GridFS creates these lazily on first write; creating them up front keeps
        # the unique (files_id, n) rule in place before any concurrent upload.
        await self.files.create_index([("filename", 1), ("uploadDate", 1)])
        await self.chunks.create_index([("files_id", 1), ("n", 1)], unique=True)

    @staticmethod
    def new_id() -> str:
        """An id for a file about to be put: known before the write, so a write that
        fails or is cancelled half-way can be undone by it."""
        return str(ObjectId())

    async def put(
        self,
        data: bytes,
        filename: str,
        media_id: str,
        content_type: str,
        file_id: str | None = None,
    ) -> str:
        file_id = file_id or self.new_id()
        await self.put_many([NewFile(file_id, filename, data, media_id, content_type)])
        return file_id

    async def put_many(self, files: Sequence[NewFile]) -> None:
        """Write ``files`` in two commands: every chunk, then every files document.

        The layout is GridFS's own (what ``open_download_stream`` reads), written without
        the bucket's per-file writer, which costs four round trips a file (two of them
        to see whether its indexes exist: ours are made at startup). Chunks go first, so
        a files document always has all its chunks; chunks left without one by a crash
        are removed by ``delete_stray_chunks``."""
        chunks: list[dict[str, Any]] = []
        documents: list[dict[str, Any]] = []
        uploaded = datetime.now(UTC)
        for file in files:
            oid = ObjectId(file.file_id)
            chunks += [
                {"files_id": oid, "n": n, "data": file.data[start : start + CHUNK_SIZE]}
                for n, start in enumerate(range(0, len(file.data), CHUNK_SIZE))
            ]
            documents.append(
                {
                    "_id": oid,
                    "length": Int64(len(file.data)),
                    "chunkSize": CHUNK_SIZE,
                    "uploadDate": uploaded,
                    "filename": file.filename,
                    "metadata": {"media_id": file.media_id, "content_type": file.content_type},
                }
            )
        if chunks:
            await self.chunks.insert_many(chunks)
        if documents:
            await self.files.insert_many(documents)

    async def read(self, file_id: str) -> bytes | None:
        oid = as_object_id(file_id)
        if oid is None:
            return None
        try:
            grid_out = await self.bucket.open_download_stream(oid)
        except NoFile:
            return None
        return bytes(await grid_out.read())

    async def chunks_of(self, file_id: str) -> AsyncIterator[bytes]:
        """The file's bytes chunk by chunk (nothing if it is gone)."""
        oid = as_object_id(file_id)
        if oid is None:
            return
        try:
            grid_out = await self.bucket.open_download_stream(oid)
        except NoFile:
            return
        while chunk := await grid_out.readchunk():
            yield bytes(chunk)

    async def delete(self, file_id: str) -> None:
        """Files document first, then chunks (GridFS's own order); missing is fine."""
        oid = as_object_id(file_id)
        if oid is None:
            return
        try:
            await self.bucket.delete(oid)
        except NoFile:
            await self.chunks.delete_many({"files_id": oid})

    async def files_uploaded_before(self, cutoff: datetime) -> list[tuple[str, str | None]]:
        """(file id, media id) of every file older than ``cutoff``."""
        return [
            (str(doc["_id"]), (doc.get("metadata") or {}).get("media_id"))
            async for doc in self.files.find(
                {"uploadDate": {"$lt": cutoff}}, projection={"metadata.media_id": 1}
            )
        ]

    async def delete_stray_chunks(self) -> int:
        """Chunks whose files document is gone (an interrupted delete); returns how many."""
        file_ids = set(await self.chunks.distinct("files_id"))
        if not file_ids:
            return 0
        present = {doc["_id"] async for doc in self.files.find({}, projection={"_id": 1})}
        stray = list(file_ids - present)
        if not stray:
            return 0
        result = await self.chunks.delete_many({"files_id": {"$in": stray}})
        return result.deleted_count
