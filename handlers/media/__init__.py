"""Photos: upload through the Pillow pipeline, GridFS storage, signed private URLs."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson
from aiohttp import web

from handlers.media.keys import MEDIA_MODERATION, MEDIA_SERVICE
from handlers.media.moderation import MediaModeration
from handlers.media.moderation_routes import push_routes
from handlers.media.repo import MediaCheckRepo, MediaRepo
from handlers.media.routes import UnsupportedMediaType, routes, serving
from handlers.media.service import (
    ImageInvalid,
    ImageTooComplex,
    ImageTooLarge,
    ImageUnsupported,
    MediaNotFound,
    MediaService,
)
from media.store import BlobStore
from server.keys import (
    CLOCK,
    DEGRADE,
    JOBS,
    MONGO_DB,
    OPENIDS,
    PROCESS_POOL,
    REDIS,
    SETTINGS,
    SIGNER,
    WECHAT,
)
from server.privacy import PersonalDataProvider
from server.room import Command, Cron, Database, Room
from server.signing import MEDIA_URL
from server.wechat_push import PushRejected


@contextlib.asynccontextmanager
async def setup(app: web.Application) -> AsyncIterator[None]:
    db = app[MONGO_DB]
    media = MediaService(
        app[SETTINGS],
        MediaRepo(db),
        BlobStore(db),
        app[PROCESS_POOL],
        app[CLOCK],
        app[SIGNER].for_purpose(MEDIA_URL),
        app[JOBS],
        app[DEGRADE],
    )
    app[MEDIA_SERVICE] = media
    app[MEDIA_MODERATION] = MediaModeration(
        app[SETTINGS],
        MediaRepo(db),
        MediaCheckRepo(db),
        media,
        app[WECHAT],
        app[REDIS],
        app[DEGRADE],
        app[CLOCK],
    )
    yield


async def ensure_indexes(db: Database) -> None:
    await MediaRepo(db).ensure_indexes()
    await BlobStore(db).ensure_indexes()


def privacy(app: web.Application) -> Sequence[PersonalDataProvider]:
    return (app[MEDIA_SERVICE],)


async def sweep_media(app: web.Application) -> dict[str, Any]:
    """Photos nothing uses for 24 h, files without a record, stray chunks (hourly)."""
    return await app[MEDIA_SERVICE].sweep()


async def make_webp(app: web.Application, media_id: str) -> bool:
    """The WebP variants of a new photo (queued by its upload; served as JPEG until then)."""
    return await app[MEDIA_SERVICE].make_webp(media_id)


async def make_pending_webp(app: web.Application) -> int:
    """WebP variants whose job was lost (Redis down at upload, a crash), every 5 minutes."""
    return await app[MEDIA_SERVICE].make_pending_webp()


async def retry_media_checks(app: web.Application) -> int:
    """Held photos whose mediaCheckAsync WeChat never took: ask again (hourly: arq puts
    cron jobs on the one queue, and a frequent one would crowd the tests' view of it)."""
    return await app[MEDIA_MODERATION].retry_checks(app[OPENIDS])


async def _sweep_command(app: web.Application, args: argparse.Namespace) -> None:
    print(orjson.dumps(await sweep_media(app)).decode())


ROOM = Room(
    name="media",
    routes=(routes, serving, push_routes),
    setup=setup,
    indexes=ensure_indexes,
    privacy=privacy,
    jobs=(make_webp,),
    crons=(
        Cron(make_pending_webp, minute=set(range(2, 60, 5)), second=40),
        Cron(sweep_media, minute=17, second=0),
        Cron(retry_media_checks, minute=47, second=0),
    ),
    commands=(
        Command(
            "sweep-media",
            "delete media unreferenced for 24 h, orphan files, stray chunks",
            _sweep_command,
        ),
    ),
    errors=(
        ImageUnsupported,
        ImageTooLarge,
        ImageInvalid,
        ImageTooComplex,
        MediaNotFound,
        UnsupportedMediaType,
        PushRejected,
    ),
)
