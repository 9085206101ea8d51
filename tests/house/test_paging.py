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
        # Values no list could hold: dates overflowing once in UTC, over-long strings.
        _raw(["feed", [True, "0001-01-01T00:00:00+01:00", "6b0f3c2a9d8e7f6a5b4c3d2e"], []]),
        _raw(["feed", [True, "9999-12-31T23:59:59-00:01", "6b0f3c2a9d8e7f6a5b4c3d2e"], []]),
        _raw(["feed", [True, "2026-13-01T00:00:00+00:00", "6b0f3c2a9d8e7f6a5b4c3d2e"], []]),
        _raw(["feed", [True, "2026-12-01T08:00:00+24:00", "6b0f3c2a9d8e7f6a5b4c3d2e"], []]),
    ],
)
def test_a_cursor_that_is_not_ours_is_a_422_naming_the_field(cursor: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        FEED.decode(cursor)
    assert caught.value.status == 422
    assert caught.value.code == "invalid_cursor"
    assert set(caught.value.details["fields"]) == {"cursor"}


@pytest.mark.parametrize("value", [2**63, 2**64 - 1, 1.5, "1", True])
def test_an_int_in_a_cursor_is_a_64_bit_integer(value: object) -> None:
    counted = Keyset("counted", (SortField("n", "int"), SortField("_id", "object_id")))
    assert counted.decode(_raw(["counted", [2**63 - 1, "0" * 24], []])) == Position(
        (2**63 - 1, "0" * 24)
    )
    with pytest.raises(InvalidRequest) as caught:
        counted.decode(_raw(["counted", [value, "0" * 24], []]))
    assert caught.value.code == "invalid_cursor"


def test_instants_come_back_in_utc() -> None:
    shanghai = "2026-12-01T16:00:00+08:00"
    position = FEED.decode(_raw(["feed", [True, shanghai, "6b0f3c2a9d8e7f6a5b4c3d2e"], []]))
    assert position is not None
    assert position.values[1] == AT
    assert position.values[1].utcoffset() == timedelta(0)


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
