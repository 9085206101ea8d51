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


# -- queries live in repos ------------------------------------------------------------------

QUERY_TREES = ("handlers", "server", "media")
QUERY_EXEMPT = {"media/store.py"}  # the GridFS store: a repo in all but name
JSON_SCHEMA_KEYS = {"server/openapi.py": frozenset({"$ref"})}
"""JSON Schema's own ``$`` keywords, which are not queries."""


def _operator_keys(source: str, allowed: frozenset[str] = frozenset()) -> list[str]:
    """``line: key`` of every string key starting with ``$`` in a dict display (nested
    ones too: ``ast.walk`` visits every dict)."""
    return [
        f"{key.lineno}: {key.value}"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Dict)
        for key in node.keys
        if isinstance(key, ast.Constant)
        and isinstance(key.value, str)
        and key.value.startswith("$")
        and key.value not in allowed
    ]


def test_the_operator_check_sees_nested_keys() -> None:
    source = 'q = {"tags": {"$in": []}}\nu = [{"a": 1}, {"$set": {"b": {"$each": []}}}]\n'
    assert _operator_keys(source) == ["1: $in", "2: $set", "2: $each"]
    assert _operator_keys('s = {"$ref": "#/x"}', frozenset({"$ref"})) == []
    assert _operator_keys('k = "$in"; d = {k: 1}; e = dict(x="$gt")') == []


def test_filters_and_updates_are_written_in_repos_only() -> None:
    """A ``"$..."`` key (``$in``, ``$set``, ``$or``...) outside a ``repo.py`` is a query
    where none belongs: it moves to the room's repo."""
    offenders = {}
    for top in QUERY_TREES:
        for path in sorted((ROOT / top).rglob("*.py")):
            name = str(path.relative_to(ROOT))
            if path.name == "repo.py" or name in QUERY_EXEMPT:
                continue
            keys = _operator_keys(
                path.read_text(encoding="utf-8"), JSON_SCHEMA_KEYS.get(name, frozenset())
            )
            if keys:
                offenders[name] = keys
    assert offenders == {}


def test_services_use_other_services_not_their_repos() -> None:
    """``self.repo`` is a service's own; ``self.people.repo`` (another's) is not allowed."""
    offenders: dict[str, list[int]] = {}
    for path in sorted((ROOT / "handlers").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        lines = [
            node.lineno
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and node.attr == "repo"
            and not (isinstance(node.value, ast.Name) and node.value.id == "self")
        ]
        if lines:
            offenders[str(path.relative_to(ROOT))] = lines
    assert offenders == {}
