"""A side-by-side diff of two texts (difflib), line by line, with the changed characters
of a changed line marked (Chinese has no spaces: a word diff would mark whole lines).

Pure: the template turns the rows into a table (and escapes every piece of text).
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher
from itertools import zip_longest
from typing import Literal

RowKind = Literal["equal", "replace", "delete", "insert", "skip"]


@dataclass(frozen=True, slots=True)
class Segment:
    text: str
    changed: bool


@dataclass(frozen=True, slots=True)
class Row:
    kind: RowKind
    left_no: int | None = None
    left: tuple[Segment, ...] = ()
    right_no: int | None = None
    right: tuple[Segment, ...] = ()
    skipped: int = 0  # a "skip" row: this many unchanged lines not shown


@dataclass(frozen=True, slots=True)
class FieldDiff:
    label: str
    rows: tuple[Row, ...]
    changed: bool


def _whole(text: str, changed: bool) -> tuple[Segment, ...]:
    return (Segment(text, changed),) if text else ()


def _inline(old: str, new: str) -> tuple[tuple[Segment, ...], tuple[Segment, ...]]:
    """The two lines cut into unchanged and changed runs of characters."""
    left: list[Segment] = []
    right: list[Segment] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if i2 > i1:
            left.append(Segment(old[i1:i2], tag != "equal"))
        if j2 > j1:
            right.append(Segment(new[j1:j2], tag != "equal"))
    return tuple(left), tuple(right)


def _equal_rows(
    old: list[str], i1: int, i2: int, j1: int, *, first: bool, last: bool, context: int
) -> list[Row]:
    """Unchanged lines, those far from any change folded into one "skip" row."""
    count = i2 - i1
    keep_head = 0 if first else context
    keep_tail = 0 if last else context
    if count <= keep_head + keep_tail + 1:
        keep = list(range(count))
        skipped_at = None
    else:
        keep = [*range(keep_head), *range(count - keep_tail, count)]
        skipped_at = keep_head
    rows: list[Row] = []
    for offset in range(count):
        if offset == skipped_at:
            rows.append(Row("skip", skipped=count - keep_head - keep_tail))
        if offset in keep:
            line = old[i1 + offset]
            rows.append(
                Row("equal", i1 + offset + 1, _whole(line, False), j1 + offset + 1,
                    _whole(line, False))
            )  # fmt: skip
    return rows


def side_by_side(old_text: str, new_text: str, *, context: int = 3) -> tuple[Row, ...]:
    """Rows of the old text (left) against the new one (right)."""
    old, new = old_text.splitlines(), new_text.splitlines()
    opcodes = SequenceMatcher(None, old, new, autojunk=False).get_opcodes()
    rows: list[Row] = []
    for index, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        if tag == "equal":
            first, last = index == 0, index == len(opcodes) - 1
            rows += _equal_rows(old, i1, i2, j1, first=first, last=last, context=context)
            continue
        pairs = zip_longest(range(i1, i2), range(j1, j2))
        for i, j in pairs:
            if i is not None and j is not None:
                left, right = _inline(old[i], new[j])
                rows.append(Row("replace", i + 1, left, j + 1, right))
            elif i is not None:
                rows.append(Row("delete", i + 1, _whole(old[i], True)))
            elif j is not None:
                rows.append(Row("insert", right_no=j + 1, right=_whole(new[j], True)))
    return tuple(rows)


def field_diff(label: str, old_text: str, new_text: str) -> FieldDiff:
    rows = side_by_side(old_text, new_text)
    return FieldDiff(label, rows, changed=old_text != new_text)
