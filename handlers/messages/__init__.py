"""WeChat subscribe messages: the outbox every room tells people through
(``service.py``), drained by the job worker."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator, Sequence

import orjson
from aiohttp import web

from handlers.messages.keys import MESSAGE_SERVICE
from handlers.messages.repo import MessageRepo
from handlers.messages.service import MessageService
from server.keys import CLOCK, DEGRADE, JOBS, METRICS, MONGO_DB, OPENIDS, SETTINGS, WECHAT
from server.privacy import PersonalDataProvider
from server.room import Command, Cron, Database, Room


@contextlib.asynccontextmanager
async def setup(app: web.Application) -> AsyncIterator[None]:
    app[MESSAGE_SERVICE] = MessageService(
        MessageRepo(app[MONGO_DB]),
        app[WECHAT],
        app[OPENIDS],
        app[JOBS],
        app[SETTINGS],
        app[DEGRADE],
        app[METRICS],
        app[CLOCK],
    )
    yield


async def ensure_indexes(db: Database) -> None:
    await MessageRepo(db).ensure_indexes()


def privacy(app: web.Application) -> Sequence[PersonalDataProvider]:
    return (app[MESSAGE_SERVICE],)


async def send_message(app: web.Application, message_id: str) -> str:
    """Send one message (queued for its time by ``MessageService.enqueue``)."""
    return await app[MESSAGE_SERVICE].send(message_id)


async def sweep_messages(app: web.Application) -> dict[str, int]:
    """Send the messages due whose job did not run (every minute)."""
    return await app[MESSAGE_SERVICE].sweep()


async def _sweep_command(app: web.Application, args: argparse.Namespace) -> None:
    print(orjson.dumps(await sweep_messages(app)).decode())


ROOM = Room(
    name="messages",
    setup=setup,
    indexes=ensure_indexes,
    privacy=privacy,
    jobs=(send_message,),
    crons=(Cron(sweep_messages, second=20),),
    commands=(
        Command("send-messages", "send the subscribe messages that are due", _sweep_command),
    ),
)
