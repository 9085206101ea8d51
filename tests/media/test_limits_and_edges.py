"""Uploads and serving under abuse and bad input (issue 9, items 8, 12, 13 and 16): a
per-user upload budget, a bounded image queue, a per-image time limit, a per-address
serving limit, no 500 on malformed requests, and erased photos gone at once."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest
from PIL import Image

from config.settings import Settings
from handlers.media.keys import MEDIA_SERVICE
from server.app import create_app
from server.clock import SettableClock
from tests.fixtures.app import AiohttpClient, Client, at_window_start
from tests.fixtures.errors import assert_error
from tests.fixtures.sessions import Session, sign_in_wechat
from tests.media.test_media_api import jpeg_bytes, local, upload


async def app_with(
    aiohttp_client: AiohttpClient, settings: Settings, clock: SettableClock, **overrides: Any
) -> Client:
    return await aiohttp_client(create_app(settings.model_copy(update=overrides), clock=clock))


async def assert_files_match_records(client: Client) -> None:
    """No media record without its bytes, no bytes without a record."""
    service = client.app[MEDIA_SERVICE]
    records = [doc async for doc in service.repo.collection.find({})]
    files = [doc async for doc in service.blobs.files.find({})]
    named = {
        entry[fmt]["file_id"]
        for doc in records
        for entry in doc["variants"].values()
        for fmt in ("jpeg", "webp")
        if fmt in entry
    }
    assert named == {str(f["_id"]) for f in files}
    assert {f["metadata"]["media_id"] for f in files} == {str(d["_id"]) for d in records}


# -- uploads ------------------------------------------------------------------------


async def test_uploads_past_the_hourly_budget_are_429(
    aiohttp_client: AiohttpClient, settings: Settings, clock: SettableClock
) -> None:
    client = await app_with(aiohttp_client, settings, clock, media_uploads_per_user_per_hour=3)
    at_window_start(clock, 3600)
    alice = await sign_in_wechat(client, "alice")
    for color in ("red", "green", "blue"):
        assert (await upload(client, alice, jpeg_bytes(color=color))).status == 201
    refused = await upload(client, alice, jpeg_bytes(color="black"))
    assert refused.status == 429
    assert_error(await refused.json(), "rate_limited")
    assert 1 <= int(refused.headers["Retry-After"]) <= 3601
    bob = await sign_in_wechat(client, "bob")  # a budget per user, not per app
    assert (await upload(client, bob, jpeg_bytes(color="black"))).status == 201
    clock.advance(3600)
    alice = await sign_in_wechat(client, "alice")  # her access token has expired meanwhile
    assert (await upload(client, alice, jpeg_bytes(color="black"))).status == 201


async def test_a_flood_of_uploads_meets_503_not_memory_exhaustion(
    aiohttp_client: AiohttpClient, settings: Settings, clock: SettableClock
) -> None:
    client = await app_with(aiohttp_client, settings, clock, image_workers=1, image_queue_max=1)
    users = [await sign_in_wechat(client, f"parent{i}") for i in range(4)]
    photos = [
        jpeg_bytes((1200, 900), color=f"#{i * 20:02x}5a{200 - i * 15:02x}") for i in range(12)
    ]
    responses = await asyncio.gather(
        *(upload(client, users[i % 4], photo) for i, photo in enumerate(photos))
    )
    statuses = [r.status for r in responses]
    assert set(statuses) <= {201, 503}, statuses
    assert 201 in statuses
    busy = [r for r in responses if r.status == 503]
    assert busy, statuses  # one worker, one place in the queue, twelve at once
    for resp in busy:
        assert_error(await resp.json(), "unavailable")
        assert int(resp.headers["Retry-After"]) >= 1
    await assert_files_match_records(client)
    assert await client.app[MEDIA_SERVICE].repo.collection.count_documents({}) == statuses.count(
        201
    )


def slow_png() -> bytes:
    # Under the pixel cap and 0.1 MB on the wire, but 75 MB of pixels to decode.
    out = io.BytesIO()
    Image.new("RGB", (5000, 5000), "white").save(out, "PNG")
    return out.getvalue()


async def test_an_image_past_the_time_limit_is_422_and_leaves_nothing(
    aiohttp_client: AiohttpClient, settings: Settings, clock: SettableClock
) -> None:
    client = await app_with(aiohttp_client, settings, clock, image_timeout_s=0.05)
    alice = await sign_in_wechat(client, "alice")
    resp = await upload(client, alice, slow_png(), content_type="image/png")
    assert resp.status == 422, await resp.text()
    body = await resp.json()
    assert_error(body, "image_too_complex")
    assert body["error"]["details"]["max_seconds"] == 0.05
    await assert_files_match_records(client)
    assert await client.app[MEDIA_SERVICE].repo.of_owner(alice.user_id) == []


def multipart(*parts: bytes, boundary: bytes = b"b") -> bytes:
    body = b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts)
    return body + b"--" + boundary + b"--\r\n"


FILE_PART = b'Content-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\nxx'


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", multipart(FILE_PART)),  # no boundary
        ("multipart/form-data; boundary=", b"x"),
        ("multipart/form-data; boundary=" + "b" * 200, b"x"),
        ("multipart/form-data; boundary=b", b"not multipart at all"),
        ("multipart/form-data; boundary=b", b""),
        ("multipart/form-data; boundary=b", multipart(b"bad header line\r\n\r\nxx")),
        ("multipart/form-data; boundary=b", b"--b\r\n" + FILE_PART),  # ends mid-part
        (
            "multipart/form-data; boundary=b",
            multipart(b'Content-Disposition: form-data; name="\xff\xfe"\r\n\r\nxx'),
        ),
        (
            "multipart/form-data; boundary=b",
            multipart(b"Content-Disposition: form-data; name*=utf-8''%FF%FE\r\n\r\nxx"),
        ),
        (
            "multipart/form-data; boundary=b",
            multipart(b'Content-Disposition: form-data; name="\x00\x01"\r\n\r\nxx'),
        ),
    ],
    ids=[
        "no-boundary",
        "empty-boundary",
        "boundary-too-long",
        "no-starting-boundary",
        "empty-body",
        "bad-part-header",
        "truncated",
        "name-odd-bytes",
        "name-rfc5987-undecodable",
        "name-control-characters",
    ],
)
async def test_a_malformed_multipart_body_is_4xx_in_the_envelope(
    client: Client, content_type: str, body: bytes
) -> None:
    alice = await sign_in_wechat(client, "alice")
    resp = await client.post(
        "/api/v1/media", data=body, headers={**alice.headers, "Content-Type": content_type}
    )
    assert 400 <= resp.status < 500, await resp.text()
    answer = await resp.json()
    assert_error(answer, answer["error"]["code"])
    assert answer["error"]["code"] == "invalid_request"
    await assert_files_match_records(client)


@pytest.mark.parametrize("purpose", ["cover", "checkin" * 10], ids=["unknown", "too-long"])
async def test_a_purpose_that_is_none_of_ours_is_422_naming_the_field(
    client: Client, purpose: str
) -> None:
    alice = await sign_in_wechat(client, "alice")
    resp = await upload(client, alice, jpeg_bytes(), purpose=purpose)
    assert resp.status == 422  # not 413 image_too_large: the photo is small
    answer = await resp.json()
    assert_error(answer, "invalid_request")
    assert "purpose" in answer["error"]["details"]["fields"]
    await assert_files_match_records(client)


# -- serving --------------------------------------------------------------------------


@pytest.fixture
async def alice(client: Client) -> Session:
    return await sign_in_wechat(client, "alice")


@pytest.mark.parametrize(
    ("range_header", "status"),
    [
        ("bytes=" + "9" * 5000 + "-", 416),
        ("bytes=-" + "9" * 5000, 206),  # the last "many" bytes: the whole file
        ("bytes=0-" + "9" * 5000, 206),
        ("bytes=" + "0" * 5000 + "1-2", 206),  # leading zeros: just 1
        ("bytes=١-٢", 416),  # Arabic-Indic digits are digits to \d, not to HTTP
        ("bytes=0-1,3-4", 416),  # several ranges: not served
    ],
    ids=["huge-start", "huge-suffix", "huge-end", "zeros", "non-ascii-digits", "multi"],
)
async def test_a_range_header_of_any_size_is_never_a_500(
    client: Client, alice: Session, range_header: str, status: int
) -> None:
    media = await (await upload(client, alice, jpeg_bytes())).json()
    url = local(media["urls"]["thumb"])
    whole = await (await client.get(url)).read()
    resp = await client.get(url, headers={"Range": range_header})
    assert resp.status == status
    if range_header.startswith("bytes=0000"):
        assert await resp.read() == whole[1:3]
    elif status == 206:
        assert await resp.read() == whole


async def test_a_5000_digit_exp_is_404(client: Client, alice: Session) -> None:
    media = await (await upload(client, alice, jpeg_bytes(), purpose="checkin")).json()
    bare = local(media["urls"]["thumb"]).split("?")[0]
    for query in (f"exp={'9' * 5000}&sig=x", "exp=%C2%B2&sig=%E7%AD%BE"):
        resp = await client.get(f"{bare}?{query}")
        assert resp.status == 404
        assert_error(await resp.json(), "not_found")


async def test_serving_has_a_per_address_limit(
    aiohttp_client: AiohttpClient, settings: Settings, clock: SettableClock
) -> None:
    client = await app_with(aiohttp_client, settings, clock, media_rate_limit_ip_per_minute=5)
    alice = await sign_in_wechat(client, "alice")
    media = await (await upload(client, alice, jpeg_bytes())).json()
    at_window_start(clock, 60)
    url = local(media["urls"]["thumb"])
    for _ in range(5):
        assert (await client.get(url)).status == 200
    refused = await client.get(url)
    assert refused.status == 429
    assert_error(await refused.json(), "rate_limited")
    assert int(refused.headers["Retry-After"]) >= 1
    # Guessing ids costs the same budget as fetching photos.
    assert (await client.get("/media/" + "a" * 32 + "/thumb")).status == 429
    clock.advance(60)
    assert (await client.get(url)).status == 200


async def test_public_photos_are_cached_an_hour_and_revalidate_cheaply(
    client: Client, alice: Session
) -> None:
    media = await (await upload(client, alice, jpeg_bytes(), purpose="avatar")).json()
    url = local(media["urls"]["large"])
    first = await client.get(url)
    assert first.headers["Cache-Control"] == "public, max-age=3600"
    assert "immutable" not in first.headers["Cache-Control"]
    again = await client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status == 304
    assert again.headers["Cache-Control"] == "public, max-age=3600"


async def test_an_erased_photo_stops_being_served_by_every_process(
    client: Client, alice: Session, aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    other = await aiohttp_client(create_app(settings))  # another process of the service
    media = await (await upload(client, alice, jpeg_bytes(color="coral"), purpose="avatar")).json()
    url = local(media["urls"]["medium"])
    etag = ""
    for process in (client, other):  # in both in-process caches now
        for _ in range(2):
            resp = await process.get(url)
            assert resp.status == 200
            etag = resp.headers["ETag"]
    assert other.app[MEDIA_SERVICE].cache.size > 0
    assert (await client.delete("/api/v1/me", headers=alice.headers)).status == 202
    for process in (client, other):
        for headers in ({}, {"If-None-Match": etag}, {"Range": "bytes=0-9"}):
            assert (await process.get(url, headers=headers)).status == 404
        assert (await process.head(url)).status == 404


async def test_a_record_whose_files_just_went_is_404_not_a_truncated_photo(
    client: Client, alice: Session
) -> None:
    media = await (await upload(client, alice, jpeg_bytes(color="plum"))).json()
    service = client.app[MEDIA_SERVICE]
    doc = await service.repo.get(media["id"])
    assert doc is not None
    for entry in doc["variants"].values():  # an erasure half-way: files gone, record not yet
        await service.blobs.delete(entry["jpeg"]["file_id"])
    resp = await client.get(local(media["urls"]["thumb"]))
    assert resp.status == 404
    assert_error(await resp.json(), "not_found")
