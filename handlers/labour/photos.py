"""Duplicate check-in photos: one student's photo handed in again by another.

The hash is the media record's ``phash``: a 64-bit dHash the media pipeline takes from
the smallest variant of every upload (``media.pipeline.dhash``), so re-encoding,
resizing and a slight crop move it by a few bits while another picture is ~32 bits
away. Two photos are "the same" at a Hamming distance of at most ``MAX_DISTANCE``.

Finding near hashes without reading the school's every check-in: each check-in keeps
its photos' hashes (``photo_hashes``, hex, in the order of ``media_ids``) and the hashes
cut into ``len(BANDS)`` bands (``photo_bands``, indexed with the school and the time).
Photos at distance <= ``len(BANDS) - 1`` share at least one band exactly (pigeonhole),
so one indexed query with the new photo's bands finds every such check-in, and most of
those a little further (up to ``MAX_DISTANCE``); a random photo shares a band with
about 1 check-in in 250, which the exact distance then drops.

A match flags the check-in ``duplicate_photo`` for the teacher and names the other
check-in (``duplicate_of``); nothing is refused: a class photographing the same
blackboard is the teacher's to judge, not ours.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

Document = dict[str, Any]

# Bit widths of the bands, most significant first (64 in all).
BANDS = (11, 11, 11, 11, 10, 10)
MAX_DISTANCE = 10
WINDOW = timedelta(weeks=4)
"""How far back another student's check-in is compared ("recent weeks")."""


def parse(phash: object) -> int | None:
    """The 64-bit hash of a media record's ``phash`` (16 hex digits), if it has one."""
    if not isinstance(phash, str) or len(phash) != 16:
        return None
    try:
        return int(phash, 16)
    except ValueError:
        return None


def bands(value: int) -> list[int]:
    """The hash's bands, each tagged with its position (``index << 12 | bits``), so that
    one index over all of them matches a band only at its own place."""
    out, shift = [], 64
    for index, width in enumerate(BANDS):
        shift -= width
        out.append(index << 12 | (value >> shift) & ((1 << width) - 1))
    return out


def distance(a: int, b: int) -> int:
    return (a ^ b).bit_count()


@dataclass(frozen=True, slots=True)
class Match:
    checkin: Document
    media_id: str
    other_media_id: str
    distance: int


def closest(hashes: dict[str, int], candidates: Iterable[Document]) -> Match | None:
    """The candidate check-in whose photo is nearest to one of ``hashes`` (media id ->
    hash), if within ``MAX_DISTANCE``; the older of equals."""
    best: Match | None = None
    for doc in candidates:
        for other_id, other in zip(doc["media_ids"], doc.get("photo_hashes") or (), strict=False):
            if other is None:
                continue
            for media_id, mine in hashes.items():
                d = distance(mine, int(other, 16))
                if d <= MAX_DISTANCE and (
                    best is None
                    or (d, doc["created_at"]) < (best.distance, best.checkin["created_at"])
                ):
                    best = Match(doc, media_id, other_id, d)
    return best
