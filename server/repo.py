"""What every room's repo shares: ids, and keyset pages in MongoDB (``server.paging``).

Like every ``repo.py``, the only kind of module that writes MongoDB filters.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection

from server.paging import Keyset, Position

Document = dict[str, Any]


def as_object_id(value: Any) -> ObjectId | None:
    """The ObjectId an id string names, or None (an unknown id is simply not found)."""
    if isinstance(value, ObjectId):
        return value
    if not isinstance(value, str) or len(value) != 24:
        return None
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        return None


def _stored(keyset: Keyset, values: tuple[Any, ...]) -> list[Any]:
    return [
        as_object_id(value) if sort_field.kind == "object_id" else value
        for sort_field, value in zip(keyset.fields, values, strict=True)
    ]


def keyset_sort(keyset: Keyset) -> list[tuple[str, int]]:
    return [(f.name, DESCENDING if f.descending else ASCENDING) for f in keyset.fields]


def keyset_filter(keyset: Keyset, position: Position | None) -> Document:
    """The documents strictly after ``position`` in ``keyset``'s order ({} from the start).

    ``(a, b, c) after (x, y, z)`` is ``a beyond x``, or ``a = x and b beyond y``, or
    ``a = x and b = y and c beyond z``, where "beyond" is ``$gt`` ascending, ``$lt``
    descending.
    """
    if position is None:
        return {}
    values = _stored(keyset, position.values)
    branches: list[Document] = []
    for i, sort_field in enumerate(keyset.fields):
        branch: Document = {f.name: v for f, v in zip(keyset.fields[:i], values[:i], strict=True)}
        branch[sort_field.name] = {"$lt" if sort_field.descending else "$gt": values[i]}
        branches.append(branch)
    return branches[0] if len(branches) == 1 else {"$or": branches}


async def find_page(
    collection: AsyncCollection[Document],
    query: Document,
    keyset: Keyset,
    position: Position | None,
    limit: int,
) -> list[Document]:
    """Up to ``limit`` documents matching ``query`` after ``position``, in order.

    Callers ask for one more than they show, to learn whether a next page exists
    (``Keyset.page``).
    """
    after = keyset_filter(keyset, position)
    if after:
        query = {"$and": [query, after]} if query else after
    cursor = collection.find(query).sort(keyset_sort(keyset)).limit(limit)
    return [doc async for doc in cursor]
