"""The room protocol: what a feature package gives the app, as one ``Room`` object.

A room (``handlers/<name>/__init__.py`` exports ``ROOM``) declares its routes, how it
builds its services from the shared resources (``setup``, entered at startup in room
order, left at shutdown in reverse), its MongoDB indexes, its background jobs and
periodic jobs, its personal-data providers, its demo content, its commands and the
errors it raises. ``server/rooms.py`` lists the rooms; nothing else in ``server/``
imports ``handlers/``. A room may use another room's service (through that room's
typed key, set up before it), never its repo.

Home Assistant's ``async_setup`` per integration and Django's ``AppConfig`` are the
models; this is smaller than either: a frozen dataclass of plain callables.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from pymongo.asynchronous.database import AsyncDatabase

from server.api import ApiRoutes
from server.errors import AppError
from server.privacy import PersonalDataProvider

Database = AsyncDatabase[dict[str, Any]]
Setup = Callable[[web.Application], AbstractAsyncContextManager[None]]
"""Builds the room's services into the app (typed keys of the room), starts and stops
what runs in the background. Shared resources are in ``server.keys``."""
Job = Callable[..., Awaitable[Any]]
"""``async def job(app, *args)``: run by the worker; its ``__name__`` is its queue name."""


@dataclass(frozen=True, slots=True)
class Cron:
    """A job run periodically by the worker (arq's cron fields: None = every value;
    ``second`` defaults to 0, so a job given only ``minute`` runs once that minute)."""

    job: Job
    second: int | set[int] | None = 0
    minute: int | set[int] | None = None
    hour: int | set[int] | None = None


@dataclass(frozen=True, slots=True)
class DemoSource:
    """Where ``python -m server seed`` reads demo content: ``data`` (texts, under version
    control) and ``art`` (images drawn by ``python -m tools.demo_art``)."""

    data: Path
    art: Path


class DemoDataError(ValueError):
    """Demo data that cannot be seeded; the message names the file and the fix."""


SeedWriter = Callable[[web.Application], Awaitable[str]]
Seed = Callable[[DemoSource], SeedWriter]
"""Reads and checks a room's demo content (raising ``DemoDataError``), and returns what
writes it and says what it did. Every room's content is checked before any is written."""


@dataclass(frozen=True, slots=True)
class Command:
    """A ``python -m server <name>`` subcommand run with the app's services started."""

    name: str
    help: str
    run: Callable[[web.Application, argparse.Namespace], Awaitable[None]]
    arguments: Callable[[argparse.ArgumentParser], None] | None = None


@dataclass(frozen=True, slots=True)
class Room:
    name: str
    routes: Sequence[ApiRoutes] = ()
    setup: Setup | None = None
    indexes: Callable[[Database], Awaitable[None]] | None = None
    jobs: Sequence[Job] = ()
    crons: Sequence[Cron] = ()
    privacy: Callable[[web.Application], Sequence[PersonalDataProvider]] | None = None
    seed: Seed | None = None
    """Development demo content (``python -m server seed``)."""
    commands: Sequence[Command] = ()
    errors: Sequence[type[AppError]] = ()
    """The ``AppError`` types the room raises: their codes are what routes may declare."""
