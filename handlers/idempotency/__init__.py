"""``Idempotency-Key`` records: the store behind ``server.idempotent``."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator, Sequence

import orjson
from aiohttp import web

from handlers.idempotency.keys import IDEMPOTENCY_SERVICE
from handlers.idempotency.repo import IdempotencyRepo
from handlers.idempotency.service import (
    IdempotencyInProgress,
    IdempotencyKeyReused,
    IdempotencyService,
)
from server.keys import CLOCK, IDEMPOTENCY, MONGO_DB
from server.privacy import PersonalDataProvider
from server.room import Command, Cron, Database, Room


@contextlib.asynccontextmanager
async def setup(app: web.Application) -> AsyncIterator[None]:
    service = IdempotencyService(IdempotencyRepo(app[MONGO_DB]), app[CLOCK])
    app[IDEMPOTENCY_SERVICE] = service
    app[IDEMPOTENCY] = service
    yield


def privacy(app: web.Application) -> Sequence[PersonalDataProvider]:
    return (app[IDEMPOTENCY_SERVICE],)


async def ensure_indexes(db: Database) -> None:
    await IdempotencyRepo(db).ensure_indexes()


async def sweep_idempotency_keys(app: web.Application) -> int:
    """Delete records past their 24 h (hourly)."""
    return await app[IDEMPOTENCY_SERVICE].sweep()


async def _sweep_command(app: web.Application, args: argparse.Namespace) -> None:
    print(orjson.dumps({"expired_keys": await sweep_idempotency_keys(app)}).decode())


ROOM = Room(
    name="idempotency",
    setup=setup,
    indexes=ensure_indexes,
    privacy=privacy,
    crons=(Cron(sweep_idempotency_keys, minute=27, second=0),),
    commands=(
        Command("sweep-idempotency-keys", "delete idempotency records past 24 h", _sweep_command),
    ),
    errors=(IdempotencyKeyReused, IdempotencyInProgress),
)
