"""Upload (``POST /api/v1/media``) and serving (``GET /media/{id}/{variant}``)."""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import get_args

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.multipart import BadContentDispositionHeader, BadContentDispositionParam

from handlers.media.keys import MEDIA_MODERATION, MEDIA_SERVICE
from handlers.media.schemas import MediaOut, MediaUploadForm
from handlers.media.service import ImageTooLarge, Purpose, VariantFile
from server.access import current_principal
from server.api import ApiRoutes
from server.authorisation import Access, Whose
from server.errors import AppError, InvalidRequest, NotFound, RateLimited
from server.idempotent import respond_idempotently
from server.ids import path_media_id
from server.keys import IDEMPOTENCY, OPENIDS, RATE_LIMITER, SETTINGS
from server.middleware import add_standard_headers, client_ip
from server.principal import Principal

routes = ApiRoutes(tag="media")
serving = ApiRoutes(prefix="", tag="media")

_PURPOSES = frozenset(get_args(Purpose))
# Multipart framing around the file: boundaries, part headers, the purpose field.
_MULTIPART_OVERHEAD = 16 * 1024
# ASCII digits only (``\d`` would take any script's), as many as they come: see _number.
_RANGE_RE = re.compile(r"bytes=([0-9]*)-([0-9]*)", re.ASCII)
_HASH_ON_LOOP_BYTES = 1024 * 1024
# Past any file we keep (and within what int() converts): longer numbers are capped.
_MAX_RANGE_DIGITS = 15
# What aiohttp's multipart reader raises on a body that is not the multipart it says
# (no boundary, no starting boundary, bad part headers, undecodable names, early end);
# its warnings about a bad Content-Disposition too, where warnings are errors (tests).
_MALFORMED_MULTIPART = (
    ValueError,
    LookupError,
    HttpProcessingError,
    BadContentDispositionHeader,
    BadContentDispositionParam,
)


class UnsupportedMediaType(AppError):
    status = 415
    code = "unsupported_media_type"
    message = "请以 multipart/form-data 上传，文件字段名为 file"


async def _read_capped(part: BodyPartReader, limit: int) -> bytes:
    """The part's bytes, reading no more than ``limit + 1`` of them (413 past the cap)."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await part.read_chunk(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise ImageTooLarge(details={"max_bytes": limit})
        chunks.append(chunk)
    return b"".join(chunks)


_PURPOSE_CHOICES = f"one of {', '.join(sorted(_PURPOSES))}"


def _field_name(name: str | None) -> str:
    """A part's name as it may be quoted back (undecodable bytes escaped, bounded)."""
    if not name:
        return "?"
    return name.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")[:64]


async def _read_parts(request: web.Request, max_bytes: int) -> tuple[bytes | None, str]:
    data: bytes | None = None
    purpose = "story"
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise InvalidRequest.for_fields({"body": "nested multipart is not accepted"})
        if part.name == "file" and data is None:
            data = await _read_capped(part, max_bytes)
        elif part.name == "purpose":
            try:
                purpose = (await _read_capped(part, 32)).decode("utf-8", "replace").strip()
            except ImageTooLarge:  # a purpose that long is none of them (not a big photo)
                raise InvalidRequest.for_fields({"purpose": _PURPOSE_CHOICES}) from None
        else:
            raise InvalidRequest.for_fields({_field_name(part.name): "unknown or repeated field"})
    return data, purpose


async def read_upload(request: web.Request) -> tuple[bytes, Purpose]:
    """The photo and its purpose from a multipart body (fields ``file``, ``purpose``):
    streamed, capped at ``MEDIA_MAX_BYTES``; 415, 413, 400 or 422 otherwise."""
    settings = request.app[SETTINGS]
    if request.content_type != "multipart/form-data":
        raise UnsupportedMediaType()
    declared = request.content_length
    if declared is not None and declared > settings.media_max_bytes + _MULTIPART_OVERHEAD:
        # Refused before reading a byte of it: a phone on 4G should not upload 11 MB for this.
        raise ImageTooLarge(details={"max_bytes": settings.media_max_bytes})
    try:
        data, purpose = await _read_parts(request, settings.media_max_bytes)
    except _MALFORMED_MULTIPART:
        raise AppError(
            "请求体不是合法的 multipart/form-data",
            status=400,
            details={"fields": {"body": "malformed multipart/form-data"}},
        ) from None
    if data is None:
        raise InvalidRequest.for_fields({"file": "required"})
    if not data:
        raise AppError("文件为空", status=422, code="image_invalid")
    if purpose not in _PURPOSES:
        raise InvalidRequest.for_fields({"purpose": _PURPOSE_CHOICES})
    return data, purpose  # type: ignore[return-value]


async def admit_upload(request: web.Request, principal: Principal) -> None:
    """The upload limits, before a byte of the body is read (refused uploads cost no
    memory): ``MEDIA_UPLOADS_PER_USER_PER_HOUR`` (429), a full image queue (503)."""
    retry_after = await request.app[RATE_LIMITER].hit(
        f"media-upload:{principal.user_id}",
        request.app[SETTINGS].media_uploads_per_user_per_hour,
        3600,
    )
    if retry_after is not None:
        raise RateLimited(retry_after, "上传过于频繁，请稍后再试")
    request.app[MEDIA_SERVICE].pool.refuse_if_full()


async def upload_digest(data: bytes) -> str:
    """The upload's SHA-256, taken once (the idempotency key and the dedupe). Up to 1 MiB
    (most photos) it takes well under a millisecond, less than a thread hop; 10 MB take
    several: off the loop."""
    if len(data) <= _HASH_ON_LOOP_BYTES:
        return hashlib.sha256(data).hexdigest()
    return await asyncio.to_thread(lambda: hashlib.sha256(data).hexdigest())


async def store_upload(
    request: web.Request, principal: Principal, data: bytes, purpose: Purpose, sha256: str
) -> MediaOut:
    """Through the pipeline and, for WeChat users' public photos, WeChat's verdict."""
    service = request.app[MEDIA_SERVICE]
    doc = await service.upload(principal.user_id, data, purpose, sha256)
    # Public photos of WeChat users wait for WeChat's verdict (moderation.py).
    doc = await request.app[MEDIA_MODERATION].submit(doc, request.app[OPENIDS])
    return service.media_out(doc)


@routes.post(
    "/media",
    "Upload a photo (multipart field `file`, optional `purpose`); Idempotency-Key honoured",
    access=Access.signed_in(),
    status=201,
    body=MediaUploadForm,
    body_content_type="multipart/form-data",
    response=MediaOut,
    errors=(
        "image_unsupported",
        "image_too_large",
        "image_invalid",
        "unsupported_media_type",
        "image_too_complex",
        "idempotency_key_reused",
        "rate_limited",
        "unavailable",
    ),
)
async def upload_media(request: web.Request) -> web.Response:
    principal = current_principal(request)
    await admit_upload(request, principal)
    data, purpose = await read_upload(request)
    sha256 = await upload_digest(data)
    fingerprint = sha256 + ":" + purpose

    async def produce() -> tuple[int, MediaOut]:
        return 201, await store_upload(request, principal, data, purpose, sha256)

    return await respond_idempotently(
        request, request.app[IDEMPOTENCY], principal.user_id, fingerprint, produce
    )


def _wants_webp(request: web.Request) -> bool:
    return "image/webp" in request.headers.get("Accept", "")


def _cache_headers(file: VariantFile, public_max_age_s: int) -> dict[str, str]:
    return {
        "ETag": file.etag,
        "Vary": "Accept",
        "Content-Type": file.content_type,
        "Accept-Ranges": "bytes",
        # Private URLs are signed and short-lived: no shared caches keep them. Public
        # ones are not "immutable": an erased photo must leave caches within
        # MEDIA_PUBLIC_MAX_AGE_S; after that a revalidation is a cheap 304, or a 404.
        "Cache-Control": "private, max-age=3600"
        if file.private
        else f"public, max-age={public_max_age_s}",
    }


@serving.route(
    "GET",
    "/media/{media_id}/{variant}",
    "A photo variant (thumb, medium, large); private ones need the signed exp/sig query",
    access=Access.public().on("media_id", "private_photo", Whose.link),
    rate_limited=False,
    content_type="image/jpeg",
    extra_responses={206: "Partial Content", 304: "Not Modified", 429: "Too Many Requests"},
)  # aiohttp answers HEAD with the same handler
async def get_media(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    # Not the API's limits: a feed page shows dozens of photos, and a school shares one
    # address; generous, but a bound on what one address can pull.
    retry_after = await request.app[RATE_LIMITER].hit(
        f"media-ip:{client_ip(request, settings.trusted_proxy_networks)}",
        settings.media_rate_limit_ip_per_minute,
        60,
        leased=True,
    )
    if retry_after is not None:
        raise RateLimited(retry_after)
    media_id = path_media_id(request)
    service = request.app[MEDIA_SERVICE]
    file = await service.variant_file(
        media_id,
        request.match_info["variant"],
        "webp" if _wants_webp(request) else "jpeg",
        request.query.get("exp"),
        request.query.get("sig"),
    )
    headers = _cache_headers(file, settings.media_public_max_age_s)
    if file.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    range_header = request.headers.get("Range")
    if request.method == "HEAD":
        headers["Content-Length"] = str(file.size)
        return web.Response(status=200, headers=headers)
    if range_header is None:
        cached = service.cache.get(file.file_id)
        if cached is not None:
            return web.Response(body=cached, headers=headers)
        # Streamed from GridFS chunk by chunk; small variants also go to the cache.
        chunks = service.blobs.chunks_of(file.file_id)
        first = await anext(chunks, None)
        if first is None:  # its files deleted a moment ago (an erasure in progress)
            raise NotFound()
        response = web.StreamResponse(headers=headers)
        response.content_length = file.size
        add_standard_headers(request, response)
        await response.prepare(request)
        parts = [first]
        await response.write(first)
        async for chunk in chunks:
            parts.append(chunk)
            await response.write(chunk)
        await response.write_eof()
        service.cache.put(file.file_id, b"".join(parts))
        return response
    data = await service.read(file)
    if data is None:
        raise NotFound()
    match = _RANGE_RE.fullmatch(range_header.strip())
    start, end = _byte_range(match, len(data))
    if start is None or end is None:
        headers["Content-Range"] = f"bytes */{len(data)}"
        return web.Response(status=416, headers=headers)
    headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
    return web.Response(status=206, body=data[start : end + 1], headers=headers)


def _byte_range(match: re.Match[str] | None, size: int) -> tuple[int | None, int | None]:
    """Inclusive (start, end) of a single ``bytes=`` range, or (None, None) if unsatisfiable."""
    if match is None or size == 0:
        return None, None
    first, last = match.group(1), match.group(2)
    if not first and not last:
        return None, None
    if not first:  # the last N bytes
        length = _number(last)
        return (max(0, size - length), size - 1) if length else (None, None)
    start = _number(first)
    end = min(_number(last), size - 1) if last else size - 1
    if start >= size or start > end:
        return None, None
    return start, end


def _number(digits: str) -> int:
    """ASCII digits as an int; a number too long to matter is capped (never a 500)."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= _MAX_RANGE_DIGITS else 10**_MAX_RANGE_DIGITS
