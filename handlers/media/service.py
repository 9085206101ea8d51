"""Photos: upload (validated, processed off the loop, deduplicated), signed private URLs,
references from other rooms, serving with a small in-process cache, sweeping, erasure.

An upload is answered once its JPEG variants are stored and its record written; the
WebP variants are made afterwards by the job worker (``make_webp``, queued by the
upload; ``make_pending_webp`` every five minutes catches jobs lost with Redis or a
crash), and until they exist a client asking for WebP is served the JPEG.

No half-written state: variant files are written first and removed again if the media
record cannot be written (or, for the WebP, updated); files left by a crash in between
carry their media id and are removed by ``sweep``; so is media nothing references
after 24 hours. A deletion first marks the record (``deleting_at``: from then on it is
404, nothing new refers to it and no WebP is added to it), then deletes the files it
names, then the record; ``sweep`` finishes a deletion a crash interrupted.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from config.settings import Settings
from handlers.media import moderation
from handlers.media.repo import DuplicateMedia, MediaRepo
from handlers.media.schemas import MediaOut, MediaUrls
from media import pipeline
from media.store import BlobStore, NewFile
from server.batching import Batcher
from server.clock import Clock
from server.degrade import Degrade
from server.errors import REDIS_UNAVAILABLE, AppError, NotFound, Unavailable
from server.jobqueue import JobQueue
from server.signing import PurposeSigner
from server.workers import WorkerPool, WorkTimedOut

log = logging.getLogger("jiangxin.media")

Purpose = Literal["avatar", "story", "checkin", "event", "innovation"]
VARIANTS = ("thumb", "medium", "large")
FORMATS = {"jpeg": "image/jpeg", "webp": "image/webp"}
# Check-in photos are often of minors: only signed, expiring URLs reach them.
PRIVATE_PURPOSES = frozenset({"checkin"})
UNREFERENCED_GRACE = timedelta(hours=24)
ORPHAN_FILE_GRACE = timedelta(hours=1)
# The job that makes a media's WebP variants (its name on the queue: handlers/media).
WEBP_JOB = "make_webp"
# Media older than this still without WebP had their job lost: the sweep makes them.
WEBP_JOB_GRACE = timedelta(minutes=2)
WEBP_SWEEP_LIMIT = 200

Document = dict[str, Any]


class ImageUnsupported(AppError):
    status = 415
    code = "image_unsupported"
    message = "不支持的图片格式（支持 JPEG、PNG、WebP、HEIC）"


class ImageTooLarge(AppError):
    status = 413
    code = "image_too_large"
    message = "图片过大"


class ImageInvalid(AppError):
    status = 422
    code = "image_invalid"
    message = "图片已损坏或不完整"


class ImageTooComplex(AppError):
    # Within the size limits yet past the time limit: a bomb, or a pathological encoding.
    status = 422
    code = "image_too_complex"
    message = "图片处理超时，请换一张或压缩后重试"


class MediaNotFound(AppError):
    status = 422
    code = "media_not_found"
    message = "图片不存在"


@dataclass(frozen=True, slots=True)
class VariantFile:
    file_id: str
    content_type: str
    etag: str
    private: bool
    size: int


class ByteBudgetCache:
    """LRU of hot variant bytes, bounded by their total size (not by count)."""

    def __init__(self, max_bytes: int, max_item_bytes: int = 2 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self.max_item_bytes = min(max_item_bytes, max_bytes)
        self.size = 0
        self._items: OrderedDict[str, bytes] = OrderedDict()

    def get(self, key: str) -> bytes | None:
        data = self._items.get(key)
        if data is not None:
            self._items.move_to_end(key)
        return data

    def put(self, key: str, data: bytes) -> None:
        if len(data) > self.max_item_bytes or key in self._items:
            return
        self._items[key] = data
        self.size += len(data)
        while self.size > self.max_bytes:
            _, evicted = self._items.popitem(last=False)
            self.size -= len(evicted)

    def discard(self, key: str) -> None:
        data = self._items.pop(key, None)
        if data is not None:
            self.size -= len(data)


class MediaService:
    privacy_section = "media"

    def __init__(
        self,
        settings: Settings,
        repo: MediaRepo,
        blobs: BlobStore,
        pool: WorkerPool,
        clock: Clock,
        url_signer: PurposeSigner,
        jobs: JobQueue,
        degrade: Degrade,
    ) -> None:
        self.settings = settings
        self.repo = repo
        self.blobs = blobs
        self.pool = pool
        self.clock = clock
        self.url_signer = url_signer
        self.jobs = jobs
        self.degrade = degrade
        self.cache = ByteBudgetCache(settings.media_cache_bytes)
        # Group commit (server/batching.py): concurrent requests' ``use`` share their
        # check (one query) and their marks (one write).
        self._uses: Batcher[Use, dict[str, Document]] = Batcher(self._use_each)

    # -- upload ---------------------------------------------------------------------

    async def upload(
        self, owner_id: str, data: bytes, purpose: Purpose, sha256: str | None = None
    ) -> Document:
        """The media for these bytes and this purpose: the owner's existing one, or a new one.

        Never one of another purpose: its visibility (and who may see it) is the purpose's.
        ``sha256`` is the bytes' (hex), if the caller has it already.
        """
        if sha256 is None:
            sha256 = await asyncio.to_thread(lambda: hashlib.sha256(data).hexdigest())
        existing = await self.repo.find_duplicate(owner_id, sha256, purpose)
        if existing is not None:
            return existing
        processed = await self._process(data)
        media_id = self.repo.new_id()
        # Ids first: whatever happens to the writes below, we know what to undo.
        file_ids = {name: self.blobs.new_id() for name in processed.variants}
        files = list(file_ids.values())
        try:
            await self._put_all(
                media_id,
                "jpeg",
                [(name, v.jpeg, file_ids[name]) for name, v in processed.variants.items()],
            )
            variants: dict[str, Any] = {
                name: {
                    "width": v.width,
                    "height": v.height,
                    "jpeg": {"file_id": file_ids[name], "bytes": len(v.jpeg)},
                }
                for name, v in processed.variants.items()
            }
            doc: Document = {
                "_id": media_id,
                "owner_id": owner_id,
                "purpose": purpose,
                "visibility": "private" if purpose in PRIVATE_PURPOSES else "public",
                "content_type": processed.content_type,
                "width": processed.width,
                "height": processed.height,
                "bytes": len(data),
                "sha256": sha256,
                "phash": processed.phash,
                "dominant_color": processed.dominant_color,
                "lqip": processed.lqip,
                "variants": variants,
                "webp_pending": True,
                "referenced_by": [],
                "created_at": self.clock.now(),
            }
            await self.repo.insert(doc)
        except DuplicateMedia:
            # The same bytes finished uploading concurrently: theirs wins, ours goes.
            await self._delete_files(files)
            winner = await self.repo.find_duplicate(owner_id, sha256, purpose)
            if winner is None:
                raise RuntimeError("duplicate media vanished") from None
            return winner
        except BaseException:
            await asyncio.shield(self._delete_files(files))
            raise
        await self._queue_webp(media_id)
        return doc

    async def _put_all(
        self, media_id: str, fmt: str, blobs: Sequence[tuple[str, bytes, str]]
    ) -> None:
        """Write (variant name, bytes, file id) files at once (the caller removes them
        by their ids if this fails)."""
        await self.blobs.put_many(
            [
                NewFile(file_id, f"{media_id}/{name}.{fmt}", blob, media_id, FORMATS[fmt])
                for name, blob, file_id in blobs
            ]
        )

    async def _queue_webp(self, media_id: str) -> None:
        try:
            await self.jobs.run_soon(WEBP_JOB, f"webp:{media_id}", media_id)
        except REDIS_UNAVAILABLE as exc:
            # Served as JPEG meanwhile; make_pending_webp makes them within minutes.
            self.degrade.redis("queue_webp", exc)

    async def _process(self, data: bytes) -> pipeline.ProcessedImage:
        work = functools.partial(pipeline.process, data, max_pixels=self.settings.media_max_pixels)
        try:
            return await self.pool.run(work)
        except pipeline.ImageUnsupported:
            raise ImageUnsupported() from None
        except pipeline.ImageTooLarge:
            raise ImageTooLarge(details={"max_pixels": self.settings.media_max_pixels}) from None
        except pipeline.ImageInvalid:
            raise ImageInvalid() from None
        except WorkTimedOut:
            raise ImageTooComplex(details={"max_seconds": self.pool.timeout_s}) from None

    # -- WebP, made by the job worker -------------------------------------------------

    async def make_webp(self, media_id: str) -> bool:
        """Worker: the WebP of each variant, made from its stored JPEG, written and then
        named in the record; True if this call did it. Idempotent: False when they are
        there already (another run won), or the media is gone or going (its files are
        removed again). Busy image workers: ``Unavailable``, and it stays pending."""
        doc = await self.repo.get(media_id)
        if doc is None or not doc.get("webp_pending") or doc.get("deleting_at"):
            return False
        names = [name for name in VARIANTS if name in doc["variants"]]
        read = await asyncio.gather(
            *(self.blobs.read(doc["variants"][name]["jpeg"]["file_id"]) for name in names)
        )
        jpegs = [data for data in read if data is not None]
        if len(jpegs) < len(names):
            return False  # its files are being deleted
        work = functools.partial(
            pipeline.webp_variants, jpegs, max_pixels=self.settings.media_max_pixels
        )
        try:
            webps = dict(zip(names, await self.pool.run(work), strict=True))
        except pipeline.ImageError:
            log.error("media %s: its JPEG variants do not decode; served without WebP", media_id)
            await self.repo.give_up_webp(media_id)
            return False
        file_ids = {name: self.blobs.new_id() for name in names}
        files = list(file_ids.values())
        try:
            await self._put_all(
                str(doc["_id"]), "webp", [(name, webps[name], file_ids[name]) for name in names]
            )
            entries = {
                name: {"file_id": file_ids[name], "bytes": len(webps[name])} for name in names
            }
            done = await self.repo.set_webp(media_id, entries)
        except BaseException:
            await asyncio.shield(self._delete_files(files))
            raise
        if not done:
            await self._delete_files(files)
        return done

    async def make_pending_webp(self) -> int:
        """Worker sweep: make the WebP of media whose job was lost (Redis, a crash)."""
        made = 0
        cutoff = self.clock.now() - WEBP_JOB_GRACE
        for media_id in await self.repo.webp_pending_before(cutoff, WEBP_SWEEP_LIMIT):
            try:
                made += await self.make_webp(media_id)
            except (Unavailable, WorkTimedOut):
                break  # the image workers are busy: the next sweep goes on
        return made

    async def _delete_files(self, file_ids: list[str]) -> None:
        for file_id in file_ids:
            await self.blobs.delete(file_id)
            self.cache.discard(file_id)

    # -- what the API shows -----------------------------------------------------------

    def sign(self, media_id: str, variant: str, expires: int) -> str:
        return self.url_signer.sign_expiring(f"{media_id}/{variant}", expires)

    def url(self, media_id: str, variant: str, expires: int | None = None) -> str:
        """The variant's URL; signed, valid until ``expires``, when one is given."""
        url = f"{self.settings.public_base_url.rstrip('/')}/media/{media_id}/{variant}"
        if expires is None:
            return url
        return f"{url}?exp={expires}&sig={self.sign(media_id, variant, expires)}"

    def media_out(self, doc: Document) -> MediaOut:
        media_id = str(doc["_id"])
        expires = None
        if doc["visibility"] == "private" or moderation.needs_signature(doc):
            # Pre-signed: a mini-program <image> cannot send an Authorization header.
            expires = int(self.clock.timestamp()) + self.settings.media_url_ttl_s
        urls = {variant: self.url(media_id, variant, expires) for variant in VARIANTS}
        return MediaOut(
            id=media_id,
            content_type=doc["content_type"],
            width=doc["width"],
            height=doc["height"],
            bytes=doc["bytes"],
            lqip=doc["lqip"],
            urls=MediaUrls(**urls),
        )

    async def get_out(self, media_id: str | None, viewer_id: str | None = None) -> MediaOut | None:
        """The ``Media`` if it exists and ``viewer_id`` may see it (moderation)."""
        if not media_id:
            return None
        doc = await self.repo.get(media_id)
        return self.media_out(doc) if doc and _shown(doc, viewer_id) else None

    async def get_outs(
        self, media_ids: list[str], viewer_id: str | None = None
    ) -> dict[str, MediaOut]:
        """The ``Media`` of each id that exists and the viewer may see, in one query."""
        return self.outs(await self.repo.get_many(media_ids), viewer_id)

    def outs(self, docs: Collection[Document], viewer_id: str | None = None) -> dict[str, MediaOut]:
        """The ``Media`` of each of these records the viewer may see, by id (records just
        read, e.g. by ``use``: no query)."""
        return {str(doc["_id"]): self.media_out(doc) for doc in docs if _shown(doc, viewer_id)}

    async def require_usable(
        self,
        media_ids: Sequence[str],
        *,
        owner_id: str | None = None,
        public: bool,
        purposes: Collection[str] | None = None,
        field: str = "media",
    ) -> dict[str, Document]:
        """The media of ``media_ids`` (one query), checked before anything refers to them:
        each exists, is ``owner_id``'s (if given), of one of ``purposes`` (if given), and
        public if the object referring to it is ``public``. Else 422 ``media_not_found``
        naming the first bad id under ``field`` (a private photo is "not found" to a
        public object: its existence is not confirmed). Writes nothing."""
        ids = list(dict.fromkeys(media_ids))
        found = {str(doc["_id"]): doc for doc in await self.repo.get_many(ids)} if ids else {}
        return _usable(ids, found, Use(ids, "", owner_id, public, purposes, field))

    # -- references from other rooms ------------------------------------------------

    async def use(
        self,
        media_ids: Sequence[str],
        ref: str,
        *,
        owner_id: str,
        public: bool,
        purposes: Collection[str] | None = None,
        field: str = "media",
    ) -> dict[str, Document]:
        """``ref`` (e.g. ``story:<id>``) now uses each of ``media_ids``: all are checked
        first (as ``require_usable``), then marked; a refusal marks none. Call it before
        writing the object that refers to them (``release`` them if that write fails).
        Returns the media records as checked (by id). Concurrent uses share their query
        and their write (``_use_each``)."""
        ids = list(dict.fromkeys(media_ids))
        if not ids:
            return {}
        return await self._uses.submit(Use(ids, ref, owner_id, public, purposes, field))

    async def _use_each(self, uses: list[Use]) -> list[dict[str, Document] | BaseException]:
        """A batch of ``use``: every media of every use read by one query, each use
        checked on its own, the usable ones' marks written by one command. A use whose
        media went (swept or erased) between the check and the mark is refused and its
        other marks taken back, as if it had been refused at the check."""
        ids = list(dict.fromkeys(media_id for use in uses for media_id in use.ids))
        found = {str(doc["_id"]): doc for doc in await self.repo.get_many(ids)}
        results: list[dict[str, Document] | BaseException] = []
        for use in uses:
            try:
                results.append(_usable(use.ids, found, use))
            except MediaNotFound as exc:
                results.append(exc)
        marking = [i for i, result in enumerate(results) if not isinstance(result, BaseException)]
        marks = [
            (media_id, uses[i].owner_id, uses[i].ref) for i in marking for media_id in uses[i].ids
        ]
        marked = iter(await self.repo.add_references(marks))
        for i in marking:
            use = uses[i]
            outcomes = [next(marked) for _ in use.ids]
            if all(outcome is True for outcome in outcomes):
                continue
            try:  # this use's own marks: a failure here is no other use's
                await self.release(
                    [m for m, o in zip(use.ids, outcomes, strict=True) if o is True], use.ref
                )
            except Exception:
                log.warning("a refused use's marks not taken back: its photos stay unswept",
                            exc_info=True)  # fmt: skip
            failure = next(o for o in outcomes if o is not True)
            first = use.ids[outcomes.index(failure)]
            results[i] = (
                failure
                if isinstance(failure, BaseException)
                else MediaNotFound(details={"fields": {use.field: f"not usable here: {first}"}})
            )
        return results

    async def release(self, media_ids: Collection[str], ref: str) -> None:
        """``ref`` no longer uses these media (the sweeper may collect them)."""
        for media_id in media_ids:
            await self.repo.remove_reference(media_id, ref)

    # -- serving ----------------------------------------------------------------------

    async def variant_file(
        self,
        media_id: str,
        variant: str,
        fmt: str,
        expires: object,
        sig: object,
    ) -> VariantFile:
        """The file to serve, or 404 (unknown, or private without a valid signature)."""
        if variant not in VARIANTS or fmt not in FORMATS:
            raise NotFound()
        doc = await self.repo.get(media_id)
        if doc is None or doc.get("deleting_at") or moderation.withheld(doc):
            raise NotFound()
        private = doc["visibility"] == "private" or moderation.needs_signature(doc)
        if private and not self.url_signer.verify_expiring(
            f"{media_id}/{variant}", expires, sig, self.clock.timestamp()
        ):
            raise NotFound()  # not 403: its existence is not for strangers to learn
        formats = doc["variants"][variant]
        if fmt not in formats:
            fmt = "jpeg"  # its WebP is not made yet: the JPEG is what there is
        entry = formats[fmt]
        return VariantFile(
            file_id=entry["file_id"],
            content_type=FORMATS[fmt],
            etag=f'"{entry["file_id"]}"',
            private=private,
            size=int(entry["bytes"]),
        )

    async def read(self, file: VariantFile) -> bytes | None:
        data = self.cache.get(file.file_id)
        if data is None:
            data = await self.blobs.read(file.file_id)
            if data is not None:
                self.cache.put(file.file_id, data)
        return data

    # -- housekeeping -------------------------------------------------------------------

    async def delete_media(self, doc: Document) -> None:
        """The record marked, then its variant files, then the record: a crash in between
        leaves a marked record (404, finished by ``sweep``), never files nobody can find.
        The mark also stops a WebP job from naming new files in it meanwhile."""
        current = await self.repo.mark_deleting(str(doc["_id"]), self.clock.now())
        if current is None:
            return
        files = [
            entry[fmt]["file_id"]
            for entry in current["variants"].values()
            for fmt in FORMATS
            if fmt in entry
        ]
        await self._delete_files(files)
        await self.repo.delete(str(doc["_id"]))

    async def delete_of_owner(self, owner_id: str, purposes: Collection[str]) -> int:
        """Delete every photo ``owner_id`` uploaded for one of ``purposes`` (a guardian
        withdrew consent: the check-in photos go, the avatar stays); how many."""
        deleted = 0
        for doc in await self.repo.of_owner(owner_id):
            if doc["purpose"] in purposes:
                await self.delete_media(doc)
                deleted += 1
        return deleted

    async def sweep(self) -> dict[str, int]:
        now = self.clock.now()
        for doc in await self.repo.deleting(limit=1000):
            await self.delete_media(doc)  # begun, then interrupted
        unreferenced = await self.repo.unreferenced_before(now - UNREFERENCED_GRACE)
        for doc in unreferenced:
            await self.delete_media(doc)
        old_files = await self.blobs.files_uploaded_before(now - ORPHAN_FILE_GRACE)
        media_ids = [media_id for _, media_id in old_files if media_id]
        known = await self.repo.existing_ids(media_ids)
        orphans = [file_id for file_id, media_id in old_files if media_id not in known]
        await self._delete_files(orphans)
        stray_chunks = await self.blobs.delete_stray_chunks()
        return {
            "unreferenced_media": len(unreferenced),
            "orphan_files": len(orphans),
            "stray_chunks": stray_chunks,
        }

    # -- personal data (server.privacy) -----------------------------------------------

    async def export_personal_data(self, user_id: str) -> Any:
        return [
            {
                **self.media_out(doc).model_dump(mode="json"),
                "purpose": doc["purpose"],
                "created_at": doc["created_at"].isoformat(),
            }
            for doc in await self.repo.of_owner(user_id)
        ]

    async def erase_personal_data(self, user_id: str) -> None:
        for doc in await self.repo.of_owner(user_id):
            await self.delete_media(doc)


@dataclass(frozen=True, slots=True)
class Use:
    """A ``use`` waiting for its batch: ``ref`` is to use the media ``ids`` (no repeats)."""

    ids: list[str]
    ref: str
    owner_id: str | None
    public: bool
    purposes: Collection[str] | None
    field: str


def _usable(ids: list[str], found: dict[str, Document], use: Use) -> dict[str, Document]:
    """The records of ``ids`` (from ``found``, by id) if each may be used by ``use``;
    else ``MediaNotFound`` naming the first that may not."""
    for media_id in ids:
        doc = found.get(media_id)
        usable = (
            doc is not None
            and not doc.get("deleting_at")
            and (use.owner_id is None or doc["owner_id"] == use.owner_id)
            and (use.purposes is None or doc["purpose"] in use.purposes)
            and (not use.public or doc["visibility"] == "public")
        )
        if not usable:
            raise MediaNotFound(details={"fields": {use.field: f"not usable here: {media_id}"}})
    return {media_id: found[media_id] for media_id in ids if media_id in found}


def _shown(doc: Document, viewer_id: str | None) -> bool:
    return not doc.get("deleting_at") and moderation.visible_to(doc, viewer_id)
