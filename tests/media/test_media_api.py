"""Photos through HTTP against the real services: upload, bad input, serving, privacy."""

from __future__ import annotations

import asyncio
import io
import struct
import zlib
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from PIL import Image

from handlers.media.keys import MEDIA_SERVICE
from server.clock import SettableClock
from tests.fixtures.app import Client
from tests.fixtures.errors import assert_error
from tests.fixtures.sessions import Session, sign_in_wechat


def jpeg_bytes(size: tuple[int, int] = (640, 480), color: str = "teal", **save: Any) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", size, color)
    image.paste(Image.new("RGB", (size[0] // 4, size[1] // 4), "orange"), (0, 0))
    image.save(out, "JPEG", quality=90, **save)
    return out.getvalue()


def image_bytes(fmt: str, mode: str = "RGB", size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    color: Any = {"RGB": (200, 30, 30), "RGBA": (200, 30, 30, 0), "I;16": 128 * 257}.get(mode, 128)
    Image.new(mode, size, color).save(out, fmt)
    return out.getvalue()


def png_header_claiming(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk) & 0xFFFFFFFF)
    )


async def upload(
    client: Client,
    session: Session,
    data: bytes,
    *,
    purpose: str | None = None,
    filename: str = "photo.jpg",
    content_type: str = "image/jpeg",
    headers: dict[str, str] | None = None,
) -> aiohttp.ClientResponse:
    form = aiohttp.FormData()
    form.add_field("file", io.BytesIO(data), filename=filename, content_type=content_type)
    if purpose is not None:
        form.add_field("purpose", purpose)
    return await client.post(
        "/api/v1/media", data=form, headers={**session.headers, **(headers or {})}
    )


def local(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@pytest.fixture
async def alice(client: Client) -> Session:
    return await sign_in_wechat(client, "alice")


async def test_upload_and_serve_every_variant(client: Client, alice: Session) -> None:
    resp = await upload(client, alice, jpeg_bytes((1600, 1200)))
    assert resp.status == 201, await resp.text()
    media = await resp.json()
    assert media["width"] == 1600
    assert media["height"] == 1200
    assert media["content_type"] == "image/jpeg"
    assert media["lqip"].startswith("data:image/")
    for name, longest in (("thumb", 320), ("medium", 960), ("large", 1600)):
        got = await client.get(local(media["urls"][name]))
        assert got.status == 200
        assert got.headers["Content-Type"] == "image/jpeg"
        # Not "immutable" for a year: an erased photo must leave caches (MEDIA_PUBLIC_MAX_AGE_S).
        assert got.headers["Cache-Control"] == "public, max-age=3600"
        picture = Image.open(io.BytesIO(await got.read()))
        assert max(picture.size) == longest  # never upscaled past the 1600 original
        # WebP is made by the job worker (tests/media/test_webp_job.py): JPEG until then.
        early = await client.get(local(media["urls"][name]), headers={"Accept": "image/webp"})
        assert early.headers["Content-Type"] == "image/jpeg"
    assert await client.app[MEDIA_SERVICE].make_webp(media["id"]) is True
    for name, longest in (("thumb", 320), ("medium", 960), ("large", 1600)):
        webp = await client.get(local(media["urls"][name]), headers={"Accept": "image/webp"})
        assert webp.headers["Content-Type"] == "image/webp"
        picture = Image.open(io.BytesIO(await webp.read()))
        assert picture.format == "WEBP"
        assert max(picture.size) == longest


async def test_etag_304_range_and_head(client: Client, alice: Session) -> None:
    media = await (await upload(client, alice, jpeg_bytes())).json()
    url = local(media["urls"]["medium"])
    first = await client.get(url)
    body = await first.read()
    etag = first.headers["ETag"]
    again = await client.get(url, headers={"If-None-Match": etag})
    assert again.status == 304
    assert await again.read() == b""
    part = await client.get(url, headers={"Range": "bytes=10-19"})
    assert part.status == 206
    assert await part.read() == body[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(body)}"
    tail = await client.get(url, headers={"Range": "bytes=-5"})
    assert await tail.read() == body[-5:]
    beyond = await client.get(url, headers={"Range": f"bytes={len(body) + 5}-"})
    assert beyond.status == 416
    head = await client.head(url)
    assert head.status == 200
    assert head.headers["ETag"] == etag
    assert int(head.headers["Content-Length"]) == len(body)


async def test_private_media_needs_a_valid_signature(
    client: Client, alice: Session, clock: SettableClock
) -> None:
    resp = await upload(client, alice, jpeg_bytes(), purpose="checkin")
    media = await resp.json()
    signed = local(media["urls"]["thumb"])
    assert "sig=" in signed
    ok = await client.get(signed)
    assert ok.status == 200
    assert ok.headers["Cache-Control"].startswith("private")
    bare = signed.split("?")[0]
    assert (await client.get(bare)).status == 404
    tampered = signed[:-2] + ("AA" if not signed.endswith("AA") else "BB")
    assert (await client.get(tampered)).status == 404
    # A signature for one variant does not open another.
    other = signed.replace("/thumb?", "/large?")
    assert (await client.get(other)).status == 404
    service = client.app[MEDIA_SERVICE]
    past = int(clock.timestamp()) - 10
    expired = f"{bare}?exp={past}&sig={service.sign(media['id'], 'thumb', past)}"
    assert (await client.get(expired)).status == 404
    # And the URL the API gave stops working once its lifetime is over.
    clock.advance(service.settings.media_url_ttl_s + 1)
    assert (await client.get(signed)).status == 404


@pytest.mark.parametrize(
    "query",
    [
        "exp=%C2%B2&sig=x",  # exp=² (a digit to str.isdigit, not to int())
        "exp=99999999999999999999999999&sig=x",
        "exp=1&sig=%E7%AD%BE%E5%90%8D",  # a non-ASCII signature
        "exp=%EF%BC%91%EF%BC%92&sig=x",  # full-width digits
        "exp=&sig=",
        "sig=only",
    ],
)
async def test_a_malformed_signature_or_expiry_is_a_404_never_a_500(
    client: Client, alice: Session, query: str
) -> None:
    resp = await upload(client, alice, jpeg_bytes(), purpose="checkin")
    media = await resp.json()
    bare = local(media["urls"]["thumb"]).split("?")[0]
    answer = await client.get(f"{bare}?{query}")
    assert answer.status == 404
    assert_error(await answer.json(), "not_found")


async def test_unknown_media_and_variant_are_404(client: Client) -> None:
    for path in ("/media/nope/thumb", "/media/0123456789abcdef01234567/thumb"):
        resp = await client.get(path)
        assert resp.status == 404
        assert_error(await resp.json(), "not_found")


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"", 422, "image_invalid"),
        (b"just some text, not a photo", 415, "image_unsupported"),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            415,
            "image_unsupported",
        ),
        (image_bytes("GIF"), 415, "image_unsupported"),
        (image_bytes("TIFF"), 415, "image_unsupported"),
        (image_bytes("BMP"), 415, "image_unsupported"),
        (b"8BPS\x00\x01" + b"\x00" * 64, 415, "image_unsupported"),
        (jpeg_bytes()[:2000], 422, "image_invalid"),
    ],
    ids=["zero-bytes", "text", "svg-script", "gif", "tiff", "bmp", "psd", "truncated-jpeg"],
)
async def test_bad_files_are_refused_and_leave_nothing(
    client: Client, alice: Session, data: bytes, status: int, code: str
) -> None:
    resp = await upload(client, alice, data)
    assert resp.status == status, await resp.text()
    assert_error(await resp.json(), code)
    service = client.app[MEDIA_SERVICE]
    assert await service.repo.of_owner(alice.user_id) == []
    assert await service.blobs.files.count_documents({}) == 0


async def test_pixel_bomb_is_413_from_its_header(client: Client, alice: Session) -> None:
    # A header and no pixel data: decoding it would be a 422 (truncated), so a 413 says
    # the size was refused from the header, before any decode (tests/media/
    # test_pipeline.py checks nothing is decoded; bench/media.py times the refusal).
    resp = await upload(client, alice, png_header_claiming(30000, 30000), content_type="image/png")
    assert resp.status == 413
    assert_error(await resp.json(), "image_too_large")
    assert await client.app[MEDIA_SERVICE].repo.of_owner(alice.user_id) == []


@pytest.mark.parametrize(
    "make",
    [
        lambda: jpeg_bytes() + b"<html><script>alert(1)</script></html>",
        lambda: image_bytes("JPEG", "CMYK"),
        lambda: image_bytes("PNG", "I;16"),
        lambda: image_bytes("PNG", "RGBA"),
    ],
    ids=["jpeg-then-html", "cmyk-jpeg", "16-bit-png", "png-alpha"],
)
async def test_awkward_but_real_photos_are_accepted(
    client: Client, alice: Session, make: Any, request: pytest.FixtureRequest
) -> None:
    resp = await upload(client, alice, make())
    assert resp.status == 201, await resp.text()
    media = await resp.json()
    got = await client.get(local(media["urls"]["thumb"]))
    picture = Image.open(io.BytesIO(await got.read()))
    center = picture.convert("RGB").getpixel((picture.width // 2, picture.height // 2))
    assert isinstance(center, tuple)
    case = request.node.callspec.id
    if case == "16-bit-png":  # mid-grey in 16 bits stays mid-grey, not white or black
        assert all(abs(channel - 128) <= 4 for channel in center)
    elif case == "png-alpha":  # transparent areas flattened onto white
        assert all(channel >= 250 for channel in center)
    elif case == "cmyk-jpeg":  # converted to an RGB colour, not left as inverted CMYK
        assert picture.mode == "RGB"


async def test_gps_and_exif_never_reach_storage(client: Client, alice: Session) -> None:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {1: "N", 2: (28.0, 1.0, 0.0), 3: "E", 4: (113.0, 8.0, 0.0)}  # GPS IFD
    resp = await upload(client, alice, jpeg_bytes(exif=exif.tobytes()))
    media = await resp.json()
    assert await client.app[MEDIA_SERVICE].make_webp(media["id"]) is True
    for variant in ("thumb", "medium", "large"):
        for accept in ("image/jpeg", "image/webp"):
            got = await client.get(local(media["urls"][variant]), headers={"Accept": accept})
            stored = await got.read()
            assert b"Exif" not in stored
            assert b"PhoneMaker" not in stored
            assert not Image.open(io.BytesIO(stored)).getexif()


async def test_oversize_upload_is_413_before_reading_it(client: Client, alice: Session) -> None:
    resp = await upload(client, alice, b"\xff\xd8" + b"0" * (11 * 1024 * 1024))
    assert resp.status == 413
    assert_error(await resp.json(), "image_too_large")


async def test_oversize_chunked_upload_stops_at_the_cap(client: Client, alice: Session) -> None:
    sent = 0
    never = asyncio.Event()

    async def body() -> Any:
        nonlocal sent
        yield (
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
            b"Content-Type: image/jpeg\r\n\r\n"
        )
        for _ in range(64):  # 16 MiB offered, without a Content-Length, like a slow phone
            if sent >= 11 * 1024 * 1024:
                # Past the 10 MiB cap the phone stalls: the rest comes only after an
                # answer, so a server that read on to the end would never answer.
                await never.wait()
            sent += 256 * 1024
            yield b"\xff" * (256 * 1024)
        yield b"\r\n--b--\r\n"

    resp = await asyncio.wait_for(
        client.post(
            "/api/v1/media",
            data=body(),
            headers={**alice.headers, "Content-Type": "multipart/form-data; boundary=b"},
        ),
        timeout=30,
    )
    sent_when_answered = sent
    assert resp.status == 413
    assert_error(await resp.json(), "image_too_large")
    # The answer came while the body was still being sent: the server stopped at the cap.
    assert sent_when_answered < 12 * 1024 * 1024


@pytest.mark.parametrize(
    ("content_type", "payload"),
    [("application/json", b'{"file": "x"}'), ("image/jpeg", b"\xff\xd8\xff")],
)
async def test_wrong_content_type_is_415(
    client: Client, alice: Session, content_type: str, payload: bytes
) -> None:
    resp = await client.post(
        "/api/v1/media", data=payload, headers={**alice.headers, "Content-Type": content_type}
    )
    assert resp.status == 415
    assert_error(await resp.json(), "unsupported_media_type")


async def test_missing_file_field_and_bad_purpose_are_422(client: Client, alice: Session) -> None:
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("purpose", "story")
    resp = await client.post("/api/v1/media", data=form, headers=alice.headers)
    assert resp.status == 422
    assert "file" in (await resp.json())["error"]["details"]["fields"]
    bad = await upload(client, alice, jpeg_bytes(), purpose="selfie")
    assert bad.status == 422
    assert "purpose" in (await bad.json())["error"]["details"]["fields"]


async def test_upload_needs_sign_in(client: Client) -> None:
    form = aiohttp.FormData()
    form.add_field("file", io.BytesIO(jpeg_bytes()), filename="a.jpg", content_type="image/jpeg")
    resp = await client.post("/api/v1/media", data=form)
    assert resp.status == 401


async def test_same_bytes_twice_are_one_media(client: Client, alice: Session) -> None:
    data = jpeg_bytes(color="navy")
    first = await (await upload(client, alice, data)).json()
    second = await (await upload(client, alice, data)).json()
    assert first["id"] == second["id"]
    bob = await sign_in_wechat(client, "bob")
    theirs = await (await upload(client, bob, data)).json()
    assert theirs["id"] != first["id"]  # dedup is per owner: nobody learns of others' uploads


async def test_parallel_uploads_with_one_key_make_one_media(client: Client, alice: Session) -> None:
    data = jpeg_bytes((1200, 900), color="purple")
    responses = await asyncio.gather(
        *(
            upload(client, alice, data, headers={"Idempotency-Key": "tap-twice-1"})
            for _ in range(20)
        )
    )
    bodies = [await r.json() for r in responses]
    assert {r.status for r in responses} == {201}
    assert len({b["id"] for b in bodies}) == 1
    service = client.app[MEDIA_SERVICE]
    assert len(await service.repo.of_owner(alice.user_id)) == 1
    assert await service.blobs.files.count_documents({}) == 3  # 3 sizes x JPEG (WebP: later)
    replayed = [r for r in responses if r.headers.get("Idempotent-Replayed") == "true"]
    assert len(replayed) == 19


async def test_same_key_with_other_bytes_is_422(client: Client, alice: Session) -> None:
    key = {"Idempotency-Key": "k-1"}
    assert (await upload(client, alice, jpeg_bytes(), headers=key)).status == 201
    other = await upload(client, alice, jpeg_bytes(color="red"), headers=key)
    assert other.status == 422
    assert_error(await other.json(), "idempotency_key_reused")
    too_long = await upload(client, alice, jpeg_bytes(), headers={"Idempotency-Key": "x" * 65})
    assert too_long.status == 422


async def test_avatar_is_the_callers_own_photo(client: Client, alice: Session) -> None:
    media = await (await upload(client, alice, jpeg_bytes(), purpose="avatar")).json()
    resp = await client.patch(
        "/api/v1/me", json={"avatar_media_id": media["id"]}, headers=alice.headers
    )
    assert resp.status == 200
    assert (await resp.json())["avatar"]["id"] == media["id"]
    bob = await sign_in_wechat(client, "bob")
    theft = await client.patch(
        "/api/v1/me", json={"avatar_media_id": media["id"]}, headers=bob.headers
    )
    assert theft.status == 422
    assert_error(await theft.json(), "media_not_found")


async def test_sweep_removes_only_what_nothing_uses(
    client: Client, alice: Session, clock: SettableClock
) -> None:
    service = client.app[MEDIA_SERVICE]
    used = await (await upload(client, alice, jpeg_bytes(color="green"), purpose="avatar")).json()
    await client.patch("/api/v1/me", json={"avatar_media_id": used["id"]}, headers=alice.headers)
    unused = await (await upload(client, alice, jpeg_bytes(color="gray"))).json()
    fresh = await (await upload(client, alice, jpeg_bytes(color="white"))).json()
    day_ago = clock.now() - timedelta(hours=25)
    for media_id in (used["id"], unused["id"]):
        doc = await service.repo.get(media_id)
        assert doc is not None
        await service.repo.collection.update_one(
            {"_id": doc["_id"]}, {"$set": {"created_at": day_ago}}
        )
    # A file whose media record was never written (a crash between the two writes).
    orphan = await service.blobs.put(b"orphan", "x/thumb.jpeg", "0" * 24, "image/jpeg")
    await service.blobs.files.update_many({}, {"$set": {"uploadDate": day_ago}})
    result = await service.sweep()
    assert result["unreferenced_media"] == 1
    assert result["orphan_files"] == 1
    assert await service.repo.get(unused["id"]) is None
    assert await service.repo.get(used["id"]) is not None
    assert await service.repo.get(fresh["id"]) is not None  # still inside its 24 h
    assert await service.blobs.read(orphan) is None
    assert (await client.get(local(unused["urls"]["thumb"]))).status == 404
    assert (await client.get(local(used["urls"]["thumb"]))).status == 200
    assert await service.blobs.files.count_documents({}) == 6  # 2 photos x 3 JPEG variants


async def test_erasing_the_account_erases_its_photos(client: Client, alice: Session) -> None:
    service = client.app[MEDIA_SERVICE]
    media = await (await upload(client, alice, jpeg_bytes(), purpose="checkin")).json()
    export = await (await client.get("/api/v1/me/export", headers=alice.headers)).json()
    assert [m["id"] for m in export["sections"]["media"]] == [media["id"]]
    assert (await client.delete("/api/v1/me", headers=alice.headers)).status == 202
    assert await service.repo.of_owner(alice.user_id) == []
    assert await service.blobs.files.count_documents({}) == 0
    assert await service.blobs.chunks.count_documents({}) == 0
    assert (await client.get(local(media["urls"]["thumb"]))).status == 404
