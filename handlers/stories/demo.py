"""The demo content of ``python -m server seed``, read from its data directory.

The content is data (``demo/`` at the top of the repo, see ``demo/README.md``):

* ``people.toml``: ``honours``, the fixed list of honour names, and ``[[people]]``.
* ``stories/<key>.md``: one story per file, TOML front matter between ``+++`` lines,
  then the Markdown body. Every title starts with ``【示例】`` and every body opens with
  a demo notice (``> 本文为演示内容…``); the loader refuses content that is not so marked.

The covers and portraits are drawn outside the product by ``python -m tools.demo_art``
into the art directory (``.data/demo-art/``, generated, not committed); ``load_demo_art``
reads them back. Anything malformed raises ``DemoDataError`` naming the file.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, get_args

from handlers.stories.schemas import Category
from server.room import DemoDataError as BaseDemoDataError

# Relative to the source tree: the repo in development, /app in the image (Dockerfile).
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = REPO_ROOT / "demo"
DEFAULT_ART_DIR = REPO_ROOT / ".data" / "demo-art"
ART_COMMAND = "python -m tools.demo_art"

CATEGORIES: tuple[Category, ...] = get_args(Category)
_CATEGORY: dict[str, Category] = {c: c for c in CATEGORIES}
DEMO_TITLE_PREFIX = "【示例】"
DEMO_NOTICE_PREFIX = "> 本文为演示内容"

_KEY = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_FENCE = "+++"


class DemoDataError(BaseDemoDataError):
    """The demo data (or its art) is missing or malformed; the message names the file."""


@dataclass(frozen=True, slots=True)
class DemoPerson:
    key: str
    name: str
    honours: tuple[tuple[str, int | None], ...]
    workplace: str | None
    bio: str
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DemoStory:
    key: str
    title: str
    summary: str
    body_markdown: str
    category: Category
    tags: tuple[str, ...]
    person_keys: tuple[str, ...]
    pinned: bool
    cover_seed: int
    order: int


@dataclass(frozen=True, slots=True)
class DemoContent:
    honours: tuple[str, ...]
    people: tuple[DemoPerson, ...]
    stories: tuple[DemoStory, ...]  # in seeding order (``order``)


@dataclass(frozen=True, slots=True)
class DemoArt:
    covers: dict[str, bytes]  # story key -> JPEG
    portraits: dict[str, bytes]  # person key -> JPEG


def cover_path(art_dir: Path, story_key: str) -> Path:
    """Where the art tool writes, and the seed reads, a story's cover."""
    return art_dir / "covers" / f"{story_key}.jpg"


def portrait_path(art_dir: Path, person_key: str) -> Path:
    """Where the art tool writes, and the seed reads, a person's portrait."""
    return art_dir / "portraits" / f"{person_key}.jpg"


# --------------------------------------------------------------------------- fields


class _Fields:
    """Typed, strict reads from one TOML table; every error names the file and where."""

    def __init__(self, path: Path, where: str, table: object, allowed: set[str]) -> None:
        self.path, self.where = path, where
        if not isinstance(table, dict):
            self.fail("must be a table")
        self.table: dict[str, Any] = table
        unknown = sorted(set(table) - allowed)
        if unknown:
            self.fail(f"unknown field {', '.join(unknown)} (known: {', '.join(sorted(allowed))})")

    def fail(self, problem: str) -> NoReturn:
        raise DemoDataError(f"{self.path}: {self.where}{problem}")

    def _get(self, name: str, required: bool, default: object) -> object:
        if name in self.table:
            return self.table[name]
        if required:
            self.fail(f"missing field {name!r}")
        return default

    def text(self, name: str, *, required: bool = True) -> str:
        """A non-empty string (an optional one defaults to "")."""
        value = self._get(name, required, "")
        if not isinstance(value, str) or (name in self.table and not value.strip()):
            self.fail(f"{name!r} must be a non-empty string")
        return value

    def texts(self, name: str, *, required: bool = True) -> tuple[str, ...]:
        """A list of distinct non-empty strings (an optional one defaults to [])."""
        value = self._get(name, required, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.fail(f"{name!r} must be a list of non-empty strings")
        if len(set(value)) != len(value):
            self.fail(f"{name!r} lists a value twice")
        return tuple(value)

    def integer(self, name: str) -> int:
        value = self._get(name, True, None)
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(f"{name!r} must be an integer")
        return value

    def flag(self, name: str) -> bool:
        """true or false (defaults to false)."""
        value = self._get(name, False, False)
        if not isinstance(value, bool):
            self.fail(f"{name!r} must be true or false")
        return value


def _toml(path: Path, text: str, first_line: int = 1) -> dict[str, Any]:
    # Blank lines in front keep tomllib's "at line N" equal to the line in the file.
    try:
        return tomllib.loads("\n" * (first_line - 1) + text)
    except tomllib.TOMLDecodeError as exc:
        raise DemoDataError(f"{path}: invalid TOML: {exc}") from exc


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DemoDataError(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DemoDataError(f"{path}: unreadable ({exc})") from exc


def _check_key(path: Path, where: str, key: str) -> None:
    if not _KEY.match(key):
        raise DemoDataError(
            f"{path}: {where}key {key!r} must be lower-case letters and digits joined by '-'"
        )


# --------------------------------------------------------------------------- people


def load_people(path: Path) -> tuple[tuple[str, ...], tuple[DemoPerson, ...]]:
    """The fixed list of honours and the people of ``people.toml``."""
    top = _Fields(path, "", _toml(path, _read(path)), {"honours", "people"})
    honours = top.texts("honours")
    tables = top.table.get("people")
    if not isinstance(tables, list) or not tables:
        top.fail("needs at least one [[people]] table")
    people: list[DemoPerson] = []
    for i, table in enumerate(tables, 1):
        fields = _Fields(
            path,
            f"[[people]] #{i}: ",
            table,
            {"key", "name", "honours", "workplace", "bio", "tags"},
        )
        key = fields.text("key")
        _check_key(path, fields.where, key)
        fields.where = f"person {key!r}: "
        raw_honours = fields.table.get("honours", [])
        if not isinstance(raw_honours, list):
            fields.fail("'honours' must be a list of { name = ..., year = ... } tables")
        person_honours: list[tuple[str, int | None]] = []
        for raw in raw_honours:
            honour = _Fields(path, f"person {key!r}: honour: ", raw, {"name", "year"})
            name = honour.text("name")
            if name not in honours:
                honour.fail(f"{name!r} is not on the list of honours")
            year = honour.integer("year") if "year" in honour.table else None
            person_honours.append((name, year))
        people.append(
            DemoPerson(
                key=key,
                name=fields.text("name"),
                honours=tuple(person_honours),
                workplace=fields.text("workplace") if "workplace" in fields.table else None,
                bio=fields.text("bio", required=False),
                tags=fields.texts("tags", required=False),
            )
        )
    _unique(path, "person key", [p.key for p in people])
    _unique(path, "person name", [p.name for p in people])
    return honours, tuple(people)


# --------------------------------------------------------------------------- stories

_STORY_FIELDS = {"title", "summary", "category", "tags", "people", "pinned", "order", "cover_seed"}


def parse_story(path: Path, text: str) -> DemoStory:
    """One story file: ``+++`` TOML front matter ``+++`` then the Markdown body."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip("\n") != _FENCE:
        raise DemoDataError(f"{path}: must start with a '+++' line (TOML front matter)")
    close = next((i for i, line in enumerate(lines[1:], 1) if line.rstrip("\n") == _FENCE), None)
    if close is None:
        raise DemoDataError(f"{path}: the front matter opened on line 1 is never closed by '+++'")
    front = _toml(path, "".join(lines[1:close]), first_line=2)
    fields = _Fields(path, "front matter: ", front, _STORY_FIELDS)
    key = path.stem
    _check_key(path, "file name: ", key)
    category = _CATEGORY.get(fields.text("category"))
    if category is None:
        fields.fail(f"'category' must be one of {', '.join(CATEGORIES)}")
    title = fields.text("title")
    if not title.startswith(DEMO_TITLE_PREFIX):
        fields.fail(f"the title must start with {DEMO_TITLE_PREFIX} (demo content is marked)")
    body = "".join(lines[close + 1 :]).strip("\n")
    if not body:
        raise DemoDataError(f"{path}: the Markdown body after the front matter is empty")
    if not body.startswith(DEMO_NOTICE_PREFIX):
        raise DemoDataError(
            f"{path}: the body's first line must be the demo notice ({DEMO_NOTICE_PREFIX}…)"
        )
    return DemoStory(
        key=key,
        title=title,
        summary=fields.text("summary"),
        body_markdown=body + "\n",
        category=category,
        tags=fields.texts("tags"),
        person_keys=fields.texts("people", required=False),
        pinned=fields.flag("pinned"),
        cover_seed=fields.integer("cover_seed"),
        order=fields.integer("order"),
    )


def load_story(path: Path) -> DemoStory:
    """The story in ``path`` (``stories/<key>.md``)."""
    return parse_story(path, _read(path))


def _unique(path: Path, what: str, values: list[str]) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise DemoDataError(f"{path}: {what} {value!r} appears twice")
        seen.add(value)


# --------------------------------------------------------------------------- all of it


def load_demo_content(data_dir: Path = DEFAULT_DATA_DIR) -> DemoContent:
    """Every person and story under ``data_dir``, checked together."""
    if not data_dir.is_dir():
        raise DemoDataError(
            f"{data_dir}: no demo data directory here (expected people.toml and "
            "stories/*.md; `python -m server seed --data DIR` points elsewhere)"
        )
    honours, people = load_people(data_dir / "people.toml")
    stories_dir = data_dir / "stories"
    paths = sorted(stories_dir.glob("*.md"))
    if not paths:
        raise DemoDataError(f"{stories_dir}: no story files (*.md)")
    stories = sorted((load_story(p) for p in paths), key=lambda s: s.order)
    keys = {p.key for p in people}
    # The seed skips a story whose title exists: two files with one title would lose one.
    seen: dict[tuple[str, str | int], Path] = {}
    for story, path in ((s, stories_dir / f"{s.key}.md") for s in stories):
        unknown = [k for k in story.person_keys if k not in keys]
        if unknown:
            raise DemoDataError(
                f"{path}: front matter: people {', '.join(unknown)} "
                f"are not in {data_dir / 'people.toml'}"
            )
        for field, value in (("title", story.title), ("order", story.order)):
            other = seen.setdefault((field, value), path)
            if other != path:
                raise DemoDataError(
                    f"{path}: front matter: {field} {value!r} is {other.name}'s {field} too"
                )
    return DemoContent(honours=honours, people=people, stories=tuple(stories))


def load_demo_art(
    content: DemoContent,
    art_dir: Path = DEFAULT_ART_DIR,
    data_dir: Path = DEFAULT_DATA_DIR,
) -> DemoArt:
    """Every cover and portrait of ``content``; if any is missing, say how to draw them."""
    wanted = {
        **{("cover", s.key): cover_path(art_dir, s.key) for s in content.stories},
        **{("portrait", p.key): portrait_path(art_dir, p.key) for p in content.people},
    }
    missing = [path for path in wanted.values() if not path.is_file()]
    if missing:
        command = ART_COMMAND
        if data_dir.resolve() != DEFAULT_DATA_DIR:
            command += f" --data {data_dir}"
        if art_dir.resolve() != DEFAULT_ART_DIR:
            command += f" --out {art_dir}"
        shown = ", ".join(str(p.relative_to(art_dir)) for p in missing[:3])
        raise DemoDataError(
            f"{art_dir}: {len(missing)} of {len(wanted)} demo images are missing ({shown}"
            f"{', …' if len(missing) > 3 else ''}); draw them first, from the repo root "
            f"({REPO_ROOT}):\n    {command}"
            + ("\n(`make run` does it for you)" if command == ART_COMMAND else "")
        )
    images = {ref: path.read_bytes() for ref, path in wanted.items()}
    return DemoArt(
        covers={key: data for (kind, key), data in images.items() if kind == "cover"},
        portraits={key: data for (kind, key), data in images.items() if kind == "portrait"},
    )
