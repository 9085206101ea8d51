"""The GridFS store: files written in two commands (chunks, then files documents) read
back by GridFS itself, whole and chunk by chunk, and deleted without leftovers."""

from __future__ import annotations

import os

from handlers.media.keys import MEDIA_SERVICE
from media.store import CHUNK_SIZE, NewFile
from tests.fixtures.app import Client


async def test_files_written_at_once_read_back_through_gridfs(client: Client) -> None:
    blobs = client.app[MEDIA_SERVICE].blobs
    sizes = {"one-byte": 1, "one-chunk": CHUNK_SIZE, "three-chunks": 2 * CHUNK_SIZE + 7}
    data = {name: os.urandom(size) for name, size in sizes.items()}
    ids = {name: blobs.new_id() for name in sizes}
    await blobs.put_many(
        [NewFile(ids[name], f"m/{name}.jpeg", data[name], "m", "image/jpeg") for name in sizes]
    )
    for name, blob in data.items():
        assert await blobs.read(ids[name]) == blob
        parts = [chunk async for chunk in blobs.chunks_of(ids[name])]
        assert b"".join(parts) == blob
        assert len(parts) == -(-len(blob) // CHUNK_SIZE)
        stream = await blobs.bucket.open_download_stream_by_name(f"m/{name}.jpeg")
        assert stream.metadata == {"media_id": "m", "content_type": "image/jpeg"}
        assert stream.length == len(blob)
    assert await blobs.files_uploaded_before(stream.upload_date) == []
    for file_id in ids.values():
        await blobs.delete(file_id)
    assert await blobs.files.count_documents({}) == 0
    assert await blobs.chunks.count_documents({}) == 0
    assert await blobs.delete_stray_chunks() == 0


async def test_chunks_of_a_write_cut_short_are_stray_and_swept(client: Client) -> None:
    blobs = client.app[MEDIA_SERVICE].blobs
    file_id = blobs.new_id()
    await blobs.put_many([NewFile(file_id, "m/large.jpeg", b"x" * 10, "m", "image/jpeg")])
    # A crash between the two commands: chunks written, no files document.
    await blobs.files.delete_many({})
    assert await blobs.read(file_id) is None
    assert await blobs.delete_stray_chunks() == 1
    assert await blobs.chunks.count_documents({}) == 0
