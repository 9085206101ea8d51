"""The shape of the house, checked: rooms register themselves, server/ knows them only
through the assembly, and every room's declarations hold together."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import handlers
from server import errors as server_errors
from server.api import route_meta
from server.room import Room
from server.rooms import ROOMS

ROOT = Path(__file__).resolve().parents[1]
ASSEMBLY = "server/rooms.py"


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def _server_modules() -> list[Path]:
    return sorted((ROOT / "server").rglob("*.py"))


def test_only_the_assembly_in_server_imports_a_room() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            m for m in _imported_modules(path) if m == "handlers" or m.startswith("handlers.")
        )
        for path in _server_modules()
        if str(path.relative_to(ROOT)) != ASSEMBLY
    }
    assert {path: mods for path, mods in offenders.items() if mods} == {}


def test_the_assembly_is_used_by_the_factory_and_the_command_line_only() -> None:
    users = {
        str(path.relative_to(ROOT))
        for path in _server_modules()
        if "server.rooms" in _imported_modules(path)
    }
    assert users == {"server/app.py", "server/__main__.py"}


def test_every_room_package_is_assembled_once() -> None:
    packages = {info.name for info in pkgutil.iter_modules(handlers.__path__) if info.ispkg}
    exported = {}
    for name in packages:
        room = getattr(importlib.import_module(f"handlers.{name}"), "ROOM", None)
        assert isinstance(room, Room), f"handlers/{name}/__init__.py exports no ROOM"
        exported[name] = room
    assert sorted(room.name for room in ROOMS) == sorted(packages)
    assert [exported[room.name] for room in ROOMS] == list(ROOMS)


def test_rooms_do_not_collide() -> None:
    jobs = [job.__name__ for room in ROOMS for job in room.jobs]
    crons = [entry.job.__name__ for room in ROOMS for entry in room.crons]
    commands = [command.name for room in ROOMS for command in room.commands]
    for names in (jobs, crons, commands):
        assert len(names) == len(set(names)), names


def test_every_declared_error_code_is_raised_by_someone() -> None:
    """A route documents only codes that a room's (or the server's) error types carry."""
    known = {
        cls.code
        for cls in vars(server_errors).values()
        if isinstance(cls, type) and issubclass(cls, server_errors.AppError)
    }
    known |= {cls.code for room in ROOMS for cls in room.errors}
    undeclared: dict[str, list[str]] = {}
    checked = 0
    for room in ROOMS:
        for table in room.routes:
            for route in table.table:
                meta = route_meta(getattr(route, "handler", None))
                if meta is None:
                    continue
                checked += len(meta.errors)
                missing = sorted(set(meta.errors) - known)
                if missing:
                    undeclared[f"{room.name}: {meta.summary}"] = missing
    assert undeclared == {}
    assert checked > 20  # the routes were really read
