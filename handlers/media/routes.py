"""Upload (``POST /api/v1/media``) and serving (``GET /media/{id}/{variant}``)."""

from __future__ import annotations

import hashlib
import re
from typing import get_args

from aiohttp import BodyPartReader, web

from handlers.media.keys import MEDIA_MODERATION, MEDIA_SERVICE
from handlers.media.schemas import MediaOut, MediaUploadForm
from handlers.media.service import ImageTooLarge, Purpose, VariantFile
from server.access import current_principal
from server.api import ApiRoutes
from server.errors import AppError, InvalidRequest
from server.idempotent import respond_idempotently
from server.keys import IDEMPOTENCY, OPENIDS, SETTINGS
from server.middleware import add_standard_headers

routes = ApiRoutes(tag="media")
serving = ApiRoutes(prefix="", tag="media")

_PURPOSES = frozenset(get_args(Purpose))
# Multipart framing around the file: boundaries, part headers, the purpose field.
_MULTIPART_OVERHEAD = 16 * 1024
_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


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


async def _read_upload(request: web.Request) -> tuple[bytes, Purpose]:
    settings = request.app[SETTINGS]
    if request.content_type != "multipart/form-data":
        raise UnsupportedMediaType()
    declared = request.content_length
    if declared is not None and declared > settings.media_max_bytes + _MULTIPART_OVERHEAD:
        # Refused before reading a byte of it: a phone on 4G should not upload 11 MB for this.
        raise ImageTooLarge(details={"max_bytes": settings.media_max_bytes})
    data: bytes | None = None
    purpose = "story"
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise InvalidRequest.for_fields({"body": "nested multipart is not accepted"})
        if part.name == "file" and data is None:
            data = await _read_capped(part, settings.media_max_bytes)
        elif part.name == "purpose":
            purpose = (await _read_capped(part, 32)).decode("utf-8", "replace").strip()
        else:
            raise InvalidRequest.for_fields({part.name or "?": "unknown or repeated field"})
    if data is None:
        raise InvalidRequest.for_fields({"file": "required"})
    if not data:
        raise AppError("文件为空", status=422, code="image_invalid")
    if purpose not in _PURPOSES:
        raise InvalidRequest.for_fields({"purpose": f"one of {', '.join(sorted(_PURPOSES))}"})
    return data, purpose  # type: ignore[return-value]


@routes.post(
    "/media",
    "Upload a photo (multipart field `file`, optional `purpose`); Idempotency-Key honoured",
    status=201,
    body=MediaUploadForm,
    body_content_type="multipart/form-data",
    response=MediaOut,
    errors=(
        "image_unsupported",
        "image_too_large",
        "image_invalid",
        "unsupported_media_type",
        "idempotency_key_reused",
    ),
)
async def upload_media(request: web.Request) -> web.Response:
    principal = current_principal(request)
    data, purpose = await _read_upload(request)
    fingerprint = hashlib.sha256(data).hexdigest() + ":" + purpose
    service = request.app[MEDIA_SERVICE]

    async def produce() -> tuple[int, MediaOut]:
        doc = await service.upload(principal.user_id, data, purpose)
        # Public photos of WeChat users wait for WeChat's verdict (moderation.py).
        doc = await request.app[MEDIA_MODERATION].submit(doc, request.app[OPENIDS])
        return 201, service.media_out(doc)

    return await respond_idempotently(
        request, request.app[IDEMPOTENCY], principal.user_id, fingerprint, produce
    )


def _wants_webp(request: web.Request) -> bool:
    return "image/webp" in request.headers.get("Accept", "")


def _cache_headers(file: VariantFile) -> dict[str, str]:
    return {
        "ETag": file.etag,
        "Vary": "Accept",
        "Content-Type": file.content_type,
        "Accept-Ranges": "bytes",
        # Private URLs are signed and short-lived: no shared caches keep them.
        "Cache-Control": "private, max-age=3600"
        if file.private
        else "public, max-age=31536000, immutable",
    }


@serving.route(
    "GET",
    "/media/{media_id}/{variant}",
    "A photo variant (thumb, medium, large); private ones need the signed exp/sig query",
    public=True,
    rate_limited=False,
    content_type="image/jpeg",
    extra_responses={206: "Partial Content", 304: "Not Modified"},
)  # aiohttp answers HEAD with the same handler
async def get_media(request: web.Request) -> web.StreamResponse:
    service = request.app[MEDIA_SERVICE]
    file = await service.variant_file(
        request.match_info["media_id"],
        request.match_info["variant"],
        "webp" if _wants_webp(request) else "jpeg",
        request.query.get("exp"),
        request.query.get("sig"),
    )
    headers = _cache_headers(file)
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
        response = web.StreamResponse(headers=headers)
        response.content_length = file.size
        add_standard_headers(request, response)
        await response.prepare(request)
        parts: list[bytes] = []
        async for chunk in service.blobs.chunks_of(file.file_id):
            parts.append(chunk)
            await response.write(chunk)
        await response.write_eof()
        service.cache.put(file.file_id, b"".join(parts))
        return response
    data = await service.read(file)
    if data is None:
        raise web.HTTPNotFound()
    match = _RANGE_RE.match(range_header.strip())
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
        length = int(last)
        return (max(0, size - length), size - 1) if length else (None, None)
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        return None, None
    return start, end
