"""The one paging module's codec and in-memory keyset (lists in MongoDB are tested with
their rooms, through the API)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from server.errors import InvalidRequest
from server.paging import ID_DESCENDING, Keyset, Position, SortField

FEED = Keyset(
    "feed",
    (
        SortField("pinned", "bool", descending=True),
        SortField("published_at", "datetime", descending=True),
        SortField("_id", "object_id", descending=True),
    ),
)
RANKED = Keyset(
    "search",
    (SortField("score", "float", descending=True), SortField("_id", "object_id")),
    context=(SortField("as_of", "datetime"),),
)
AT = datetime(2026, 12, 1, 8, tzinfo=UTC)


def _raw(payload: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode()


def test_cursors_round_trip() -> None:
    values = (True, AT, "6b0f3c2a9d8e7f6a5b4c3d2e")
    cursor = FEED.encode(values)
    assert cursor.isascii() and "=" not in cursor
    assert FEED.decode(cursor) == Position(values)
    assert FEED.decode(None) is None
    ranked = RANKED.encode((1.5, "6b0f3c2a9d8e7f6a5b4c3d2e"), (AT,))
    assert RANKED.decode(ranked) == Position((1.5, "6b0f3c2a9d8e7f6a5b4c3d2e"), (AT,))


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",
        "签名",
        "eyJ",  # truncated base64
        _raw({"not": "a list"}),
        _raw(["people", [True, AT.isoformat(), "6b0f3c2a9d8e7f6a5b4c3d2e"], []]),  # other list
        _raw(["feed", [True, AT.isoformat()], []]),  # too few values
        _raw(["feed", ["yes", AT.isoformat(), "6b0f3c2a9d8e7f6a5b4c3d2e"], []]),
        _raw(["feed", [True, "2026-12-01T08:00:00", "6b0f3c2a9d8e7f6a5b4c3d2e"], []]),  # naive
        _raw(["feed", [True, "yesterday", "6b0f3c2a9d8e7f6a5b4c3d2e"], []]),
        _raw(["feed", [True, AT.isoformat(), "6B0F3C2A9D8E7F6A5B4C3D2E"], []]),  # upper case
        _raw(["feed", [True, AT.isoformat(), {"$gt": ""}], []]),  # an operator smuggled in
        _raw(["feed", [True, AT.isoformat(), "6b0f3c2a9d8e7f6a5b4c3d2e"], [1]]),
        "A" * 201,
    ],
)
def test_a_cursor_that_is_not_ours_is_a_422_naming_the_field(cursor: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        FEED.decode(cursor)
    assert caught.value.status == 422
    assert caught.value.code == "invalid_request"
    assert set(caught.value.details["fields"]) == {"cursor"}


def test_booleans_are_not_numbers_in_cursors() -> None:
    with pytest.raises(InvalidRequest):
        RANKED.decode(_raw(["search", [True, "6b0f3c2a9d8e7f6a5b4c3d2e"], [AT.isoformat()]]))


def test_in_memory_pages_follow_the_order_without_gaps_or_repeats() -> None:
    items = [
        {"score": float(score), "_id": f"{i:024x}"} for i, score in enumerate([3, 1, 2, 3, 2, 1, 3])
    ]

    def values(item: dict[str, object]) -> tuple[object, ...]:
        return (item["score"], item["_id"])

    seen: list[str] = []
    cursor = None
    while True:
        position = RANKED.decode(cursor)
        page, cursor = RANKED.after_in_memory(items, values, position, 2, (AT,))
        seen.extend(str(item["_id"]) for item in page)
        if cursor is None:
            break
        assert RANKED.decode(cursor).context == (AT,)  # type: ignore[union-attr]
    expected = sorted(items, key=lambda item: (-float(item["score"]), str(item["_id"])))  # type: ignore[arg-type]
    assert seen == [str(item["_id"]) for item in expected]


def test_page_splits_one_extra_document() -> None:
    ids = Keyset("ids", ID_DESCENDING)
    docs = [{"_id": f"{i:024x}"} for i in range(3, 0, -1)]
    page, cursor = ids.page(docs, 2)
    assert [d["_id"] for d in page] == [docs[0]["_id"], docs[1]["_id"]]
    assert ids.decode(cursor) == Position((docs[1]["_id"],))
    assert ids.page(docs[:2], 2) == (docs[:2], None)


def test_compare_respects_each_direction() -> None:
    later = (False, AT + timedelta(hours=1), "b" * 24)
    assert FEED.compare((True, AT, "a" * 24), later) == -1  # pinned first
    assert FEED.compare((False, AT, "a" * 24), later) == 1  # newer first
    assert FEED.compare(later, later) == 0
