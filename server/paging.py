"""The one paging module: opaque cursors, ``PageQuery``, ``Page[T]``, keyset positions.

Every list pages by keyset: items are in a total order given by a ``Keyset`` (sort
fields, the last one unique: a tie-breaker such as ``_id``), and a cursor is the
position of the last item sent. The next page starts strictly after it, so items
inserted meanwhile never repeat an item or hide one (they show up, or not, by where
they sort). A list may also carry ``context`` in its cursors: values fixed on the first
page, such as the instant a search was first run, so that later pages rank the same
candidates.

A cursor is URL-safe base64 of JSON ``[list name, [values...], [context...]]``: opaque
to clients, checked field by field on the way back in. A cursor that is not one of this
list's (malformed, tampered with, from another list, or holding values no list could
have: a date that is not one or overflows, an integer beyond 64 bits) is 422
``invalid_cursor`` with ``details.fields.cursor``, never a 500. It is not signed:
whatever position a client forges, the list's own filters still decide what it may see
(a list whose context is an instant, such as search's ``as_of``, caps it at the clock).

MongoDB queries for a position are built by ``server.repo``; lists ranked in Python
(search) use ``after_in_memory``.
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

import orjson
from pydantic import Field

from server.errors import InvalidRequest
from server.rest import ApiOut, ApiQuery

ItemT = TypeVar("ItemT")
Kind = Literal["bool", "int", "float", "str", "datetime", "object_id"]

DEFAULT_LIMIT = 20
MAX_LIMIT = 50
MAX_CURSOR_CHARS = 200
# What MongoDB stores (BSON int64); a larger integer in a cursor is no position of ours.
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class PageQuery(ApiQuery):
    """``limit`` and ``cursor``: the query of every list (lists add their filters)."""

    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(None, min_length=1, max_length=MAX_CURSOR_CHARS)


class Page(ApiOut, Generic[ItemT]):
    """One page: its items and the cursor of the next (``null`` on the last page)."""

    items: list[ItemT]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class SortField:
    name: str
    kind: Kind
    descending: bool = False


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page ends: the sort values of its last item, and the list's context."""

    values: tuple[Any, ...]
    context: tuple[Any, ...] = ()


class InvalidCursor(InvalidRequest):
    """422 ``invalid_cursor``: the ``cursor`` query is not a position of this list."""

    code = "invalid_cursor"
    message = "分页游标无效"


def _bad_cursor(reason: str = "not a cursor of this list") -> InvalidCursor:
    return InvalidCursor(details={"fields": {"cursor": reason}})


_HEX = frozenset("0123456789abcdef")


def _check(kind: Kind, value: Any) -> Any:
    """``value`` as read back from a cursor, checked against ``kind``; raises 422."""
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise _bad_cursor()
        return value
    if kind == "float" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind == "str" and isinstance(value, str) and len(value) <= MAX_CURSOR_CHARS:
        return value
    if kind == "object_id" and isinstance(value, str) and len(value) == 24 and set(value) <= _HEX:
        return value
    if kind == "datetime" and isinstance(value, str) and len(value) <= 40:
        try:
            parsed = datetime.fromisoformat(value)
            # In UTC, as MongoDB keeps it: an offset that carries it past year 1 or
            # 9999 overflows here, not later in a query or a comparison.
            in_utc = parsed.astimezone(UTC) if parsed.tzinfo is not None else None
        except (ValueError, OverflowError):
            raise _bad_cursor() from None
        if in_utc is None:
            raise _bad_cursor()  # naive: a cursor's instants carry their offset
        return in_utc
    raise _bad_cursor()


def _dump(kind: Kind, value: Any) -> Any:
    if kind == "datetime":
        if not isinstance(value, datetime):
            raise TypeError(f"sort value {value!r} is not a datetime")
        return value.isoformat()
    if kind == "object_id":
        return str(value)
    return value


@dataclass(frozen=True, slots=True)
class Keyset:
    """A list's total order (``fields``, the last unique) and the cursor codec for it."""

    name: str
    fields: tuple[SortField, ...]
    context: tuple[SortField, ...] = ()
    _names: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.fields:
            raise ValueError("a keyset needs at least its unique tie-breaker")
        object.__setattr__(self, "_names", tuple(f.name for f in self.fields))

    def values_of(self, doc: dict[str, Any]) -> tuple[Any, ...]:
        """The sort values of a document (top-level fields, as the repos keep them)."""
        return tuple(doc[name] for name in self._names)

    def encode(self, values: Sequence[Any], context: Sequence[Any] = ()) -> str:
        if len(values) != len(self.fields) or len(context) != len(self.context):
            raise ValueError("cursor values do not match the keyset")
        payload = [
            self.name,
            [_dump(f.kind, v) for f, v in zip(self.fields, values, strict=True)],
            [_dump(f.kind, v) for f, v in zip(self.context, context, strict=True)],
        ]
        return base64.urlsafe_b64encode(orjson.dumps(payload)).rstrip(b"=").decode()

    def decode(self, cursor: str | None) -> Position | None:
        """The position a cursor names; None for the first page; 422 if it is not ours."""
        if cursor is None:
            return None
        if len(cursor) > MAX_CURSOR_CHARS or not cursor.isascii():
            raise _bad_cursor()
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            payload = orjson.loads(raw)
        except (binascii.Error, ValueError):
            raise _bad_cursor() from None
        if (
            not isinstance(payload, list)
            or len(payload) != 3
            or payload[0] != self.name
            or not isinstance(payload[1], list)
            or not isinstance(payload[2], list)
            or len(payload[1]) != len(self.fields)
            or len(payload[2]) != len(self.context)
        ):
            raise _bad_cursor()
        values = tuple(_check(f.kind, v) for f, v in zip(self.fields, payload[1], strict=True))
        context = tuple(_check(f.kind, v) for f, v in zip(self.context, payload[2], strict=True))
        return Position(values, context)

    def page(
        self, docs: list[dict[str, Any]], limit: int, context: Sequence[Any] = ()
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Split ``limit + 1`` fetched documents into the page and the next cursor."""
        if len(docs) <= limit:
            return docs, None
        return docs[:limit], self.encode(self.values_of(docs[limit - 1]), context)

    # -- lists ordered in Python (search ranks in the process) --------------------------

    def compare(self, a: Sequence[Any], b: Sequence[Any]) -> int:
        """-1 if sort values ``a`` come before ``b`` in this order, 1 if after, 0 if equal."""
        for sort_field, x, y in zip(self.fields, a, b, strict=True):
            if x == y:
                continue
            before = x > y if sort_field.descending else x < y
            return -1 if before else 1
        return 0

    def sort_in_memory(
        self, items: Iterable[ItemT], values: Callable[[ItemT], Sequence[Any]]
    ) -> list[ItemT]:
        def order(a: ItemT, b: ItemT) -> int:
            return self.compare(values(a), values(b))

        return sorted(items, key=functools.cmp_to_key(order))

    def after_in_memory(
        self,
        items: Iterable[ItemT],
        values: Callable[[ItemT], Sequence[Any]],
        position: Position | None,
        limit: int,
        context: Sequence[Any] = (),
    ) -> tuple[list[ItemT], str | None]:
        """One page of ``items`` (any order) after ``position``, and the next cursor."""
        ordered = self.sort_in_memory(items, values)
        if position is not None:
            ordered = [item for item in ordered if self.compare(values(item), position.values) > 0]
        if len(ordered) <= limit:
            return ordered, None
        return ordered[:limit], self.encode(values(ordered[limit - 1]), context)


ID_ASCENDING = (SortField("_id", "object_id"),)
ID_DESCENDING = (SortField("_id", "object_id", descending=True),)
