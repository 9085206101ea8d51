"""Draw the demo check-in photos that ``python -m server seed`` hands in for the demo
students (``handlers/labour/demo.py``).

    python -m tools.demo_photos [--out .data/demo-art] [--force]

Writes ``checkins/photo-NNN.jpg`` (``CHECKIN_PHOTOS`` of them) and
``checkins/copy-of-photo-000.jpg`` (the first photo as a classmate would hand it in
again: a little cropped, smaller, re-encoded) under ``--out``; photos that exist are
left alone unless ``--force``. ``make run`` calls it (``make demo-art``) before seeding.

Made-up pictures, deterministic (same number, same bytes), and so unlike one another
that the duplicate-photo check (``handlers/labour/photos.py``) takes none of them for
another: a drawing whose hash comes near one kept already is drawn again from the next
seed. Only the copy is meant to be flagged. Pillow is used here, in ``tools/`` and in
``media/`` only: the product itself never draws.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageOps

from handlers.labour import photos
from handlers.labour.demo import CHECKIN_PHOTOS, checkin_photo_path, copy_photo_path
from handlers.stories.demo import DEFAULT_ART_DIR
from media.pipeline import dhash
from tools.demo_art import _write

SIZE = (400, 300)
MARGIN = 6
"""Bits beyond ``photos.MAX_DISTANCE`` between any two photos: the pipeline hashes a
smaller variant than the drawing, which moves a hash by a bit or two."""


def draw_photo(seed: int) -> bytes:
    """A tinted light turned at random and things of every colour scattered over it."""
    rnd = random.Random(seed)  # noqa: S311 (a demo picture, not a secret)
    width, height = SIZE
    shade = Image.linear_gradient("L").resize(SIZE).rotate(rnd.randint(0, 359))
    dark = (rnd.randint(10, 80), rnd.randint(10, 80), rnd.randint(10, 80))
    light = (rnd.randint(180, 255), rnd.randint(180, 255), rnd.randint(180, 255))
    im = ImageOps.colorize(shade, dark, light)
    draw = ImageDraw.Draw(im)
    for _ in range(40):
        x, y = rnd.randint(0, width), rnd.randint(0, height)
        r = rnd.randint(width // 25, width // 4)
        fill = (rnd.randint(0, 255), rnd.randint(0, 255), rnd.randint(0, 255))
        shape = draw.ellipse if rnd.random() < 0.5 else draw.rectangle
        shape((x - r, y - r, x + r, y + r), fill=fill)
    out = io.BytesIO()
    im.save(out, "JPEG", quality=80)
    return out.getvalue()


def passed_off(photo: bytes) -> bytes:
    """A classmate's photo handed in again: 2 % cropped off each side, three quarters
    of the size, re-encoded at a lower quality."""
    with Image.open(io.BytesIO(photo)) as im:
        w, h = im.size
        cropped = im.crop((w // 50, h // 50, w - w // 50, h - h // 50))
        out = io.BytesIO()
        cropped.resize((w * 3 // 4, h * 3 // 4)).save(out, "JPEG", quality=60)
    return out.getvalue()


def _hash(data: bytes) -> int:
    with Image.open(io.BytesIO(data)) as im:
        return int(dhash(im), 16)


def draw_photos(count: int = CHECKIN_PHOTOS) -> list[bytes]:
    """``count`` photos, none near another to the duplicate-photo check."""
    kept: list[bytes] = []
    hashes: list[int] = []
    seed = 0
    while len(kept) < count:
        data = draw_photo(seed)
        seed += 1
        mine = _hash(data)
        if all(photos.distance(mine, h) > photos.MAX_DISTANCE + MARGIN for h in hashes):
            kept.append(data)
            hashes.append(mine)
    return kept


def write_photos(out: Path, *, force: bool = False) -> list[Path]:
    """Draw what is missing under ``out`` (everything with ``force``); what was written."""
    wanted = [checkin_photo_path(out, n) for n in range(CHECKIN_PHOTOS)]
    if not force and all(path.is_file() for path in [*wanted, copy_photo_path(out)]):
        return []
    drawn = draw_photos()  # all of them: which seeds are kept depends on the ones before
    written = []
    for path, data in zip(wanted, drawn, strict=True):
        if force or not path.is_file():
            _write(path, data)
            written.append(path)
    if force or not copy_photo_path(out).is_file():
        _write(copy_photo_path(out), passed_off(drawn[0]))
        written.append(copy_photo_path(out))
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.demo_photos",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_ART_DIR,
        help="where the photos go, in checkins/ (default: %(default)s)",
    )
    parser.add_argument("--force", action="store_true", help="redraw photos that exist")
    args = parser.parse_args(argv)
    written = write_photos(args.out, force=args.force)
    total = CHECKIN_PHOTOS + 1
    print(f"demo check-in photos in {args.out}: {len(written)} drawn, "
          f"{total - len(written)} already there")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
