"""Draw the demo covers and portraits that ``python -m server seed`` uploads.

    python -m tools.demo_art [--data demo] [--out .data/demo-art] [--force]

Reads the demo data with the product's loader (``handlers/stories/demo.py``) and writes
``covers/<story-key>.jpg`` and ``portraits/<person-key>.jpg`` under ``--out``; images
that exist are left alone unless ``--force``. ``make run`` calls it before seeding.

The pictures are abstract JPEGs, deterministic from the story's ``cover_seed`` and
category or the person's ``key``: same data, same bytes. Pillow's built-in font has no
CJK glyphs, so the only text is ASCII. Pillow is used here and in ``media/`` only: the
product itself never draws.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import math
import os
import random
import sys
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from handlers.stories.demo import (
    DEFAULT_ART_DIR,
    DEFAULT_DATA_DIR,
    DemoContent,
    DemoDataError,
    DemoPerson,
    DemoStory,
    cover_path,
    load_demo_content,
    portrait_path,
)
from handlers.stories.schemas import Category

RGB = tuple[int, int, int]
RGBA = tuple[int, int, int, int]
_Motif = Callable[[ImageDraw.ImageDraw, random.Random, int, int, RGB], None]

_SUPERSAMPLE = 2
_JPEG_QUALITY = 85

# (top, bottom, accent) per category
_PALETTES: dict[Category, tuple[RGB, RGB, RGB]] = {
    "model_worker": ((150, 20, 32), (226, 92, 46), (255, 211, 110)),
    "craftsman": ((16, 36, 72), (44, 96, 132), (214, 150, 92)),
    "frontline_worker": ((18, 86, 80), (124, 170, 96), (250, 222, 140)),
    "team": ((84, 38, 110), (222, 112, 64), (255, 200, 150)),
    "policy": ((26, 40, 66), (92, 110, 134), (226, 200, 150)),
}
_LABELS: dict[Category, str] = {
    "model_worker": "MODEL WORKER",
    "craftsman": "CRAFTSMAN",
    "frontline_worker": "FRONTLINE",
    "team": "TEAM",
    "policy": "POLICY",
}


def _rgba(color: RGB, alpha: int) -> RGBA:
    return (color[0], color[1], color[2], alpha)


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def _gradient(size: tuple[int, int], top: RGB, bottom: RGB, angle: float) -> Image.Image:
    """A linear two-colour gradient, tilted by ``angle`` degrees."""
    # A gradient is smooth: work at an eighth of the size, then scale up.
    w, h = max(2, size[0] // 8), max(2, size[1] // 8)
    side = math.ceil(math.hypot(w, h)) + 2
    mask = Image.linear_gradient("L").resize((side, side), Image.Resampling.BILINEAR)
    mask = mask.rotate(angle, resample=Image.Resampling.BICUBIC)
    left, upper = (side - w) // 2, (side - h) // 2
    mask = mask.crop((left, upper, left + w, upper + h)).resize(size, Image.Resampling.BILINEAR)
    return Image.composite(Image.new("RGB", size, bottom), Image.new("RGB", size, top), mask)


def _glow(base: Image.Image, center: tuple[int, int], radius: int, color: RGB, alpha: int) -> None:
    """Blend a soft radial glow into ``base`` (RGB, in place)."""
    mask = Image.radial_gradient("L").resize((radius * 2, radius * 2), Image.Resampling.BILINEAR)
    # radial_gradient is 0 at the centre and about 181 at the middle of each edge
    mask = mask.point(lambda v: round(max(0.0, 1 - v / 181) ** 2 * alpha))
    base.paste(Image.new("RGB", mask.size, color), (center[0] - radius, center[1] - radius), mask)


def _gear(
    d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, teeth: int, fill: RGBA, turn: float
) -> None:
    points: list[tuple[float, float]] = []
    step = 2 * math.pi / teeth
    for i in range(teeth):
        a = turn + i * step
        for da, rr in ((-0.30, r * 0.82), (-0.18, r), (0.18, r), (0.30, r * 0.82)):
            points.append(
                (cx + rr * math.cos(a + da * step * 1.6), cy + rr * math.sin(a + da * step * 1.6))
            )
    d.polygon(points, fill=fill)
    hole = r * 0.34
    d.ellipse((cx - hole, cy - hole, cx + hole, cy + hole), fill=(0, 0, 0, 0))
    ring = r * 0.62
    d.ellipse(
        (cx - ring, cy - ring, cx + ring, cy + ring),
        outline=(0, 0, 0, 0),
        width=max(2, round(r * 0.06)),
    )


def _star(d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, fill: RGBA, turn: float) -> None:
    points = []
    for i in range(10):
        rr = r if i % 2 == 0 else r * 0.42
        a = turn - math.pi / 2 + i * math.pi / 5
        points.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
    d.polygon(points, fill=fill)


def _leaf(
    d: ImageDraw.ImageDraw, x: float, y: float, length: float, angle: float, fill: RGBA
) -> None:
    """A grain / leaf: a pointed ellipse from (x, y) along ``angle``."""
    width = length * 0.32
    points = []
    for i in range(17):
        t = i / 16
        along = t * length
        across = math.sin(t * math.pi) * width / 2
        points.append((along, across))
    points += [(a, -c) for a, c in reversed(points)]
    ca, sa = math.cos(angle), math.sin(angle)
    d.polygon([(x + a * ca - c * sa, y + a * sa + c * ca) for a, c in points], fill=fill)


def _motif_model_worker(
    d: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int, accent: RGB
) -> None:
    cx, cy = w * rng.uniform(0.66, 0.76), h * rng.uniform(0.38, 0.48)
    r = h * 0.26
    rays = rng.choice((16, 20, 24))
    for i in range(rays):
        a = i * 2 * math.pi / rays
        spread = math.pi / rays * 0.45
        far = r * 2.6
        d.polygon(
            [
                (cx, cy),
                (cx + far * math.cos(a - spread), cy + far * math.sin(a - spread)),
                (cx + far * math.cos(a + spread), cy + far * math.sin(a + spread)),
            ],
            fill=_rgba(accent, 34),
        )
    # ribbon tails under the medal, each with a V notch
    hw, tilt, y0, y1 = r * 0.2, r * 0.16, cy + r * 0.6, cy + r * 1.95
    for side in (-1, 1):
        x0 = cx + side * r * 0.3
        d.polygon(
            [
                (x0 - hw, y0),
                (x0 + hw, y0),
                (x0 + hw + side * tilt, y1),
                (x0 + side * tilt, y1 - r * 0.2),
                (x0 - hw + side * tilt, y1),
            ],
            fill=_rgba(accent, 200),
        )
    d.ellipse((cx - r * 1.18, cy - r * 1.18, cx + r * 1.18, cy + r * 1.18), fill=_rgba(accent, 130))
    d.ellipse(
        (cx - r * 1.02, cy - r * 1.02, cx + r * 1.02, cy + r * 1.02),
        outline=_rgba((255, 255, 255), 150),
        width=round(r * 0.04),
    )
    _star(d, cx, cy, r * 0.8, _rgba((255, 244, 214), 235), rng.uniform(-0.05, 0.05))


def _motif_craftsman(
    d: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int, accent: RGB
) -> None:
    r1 = h * rng.uniform(0.28, 0.33)
    cx1, cy1 = w * 0.7, h * 0.44
    teeth1 = rng.choice((12, 14, 16))
    _gear(d, cx1, cy1, r1, teeth1, _rgba(accent, 215), rng.uniform(0, math.pi))
    r2 = r1 * rng.uniform(0.5, 0.6)
    a = rng.uniform(2.4, 3.4)
    dist = (r1 + r2) * 0.9
    _gear(
        d,
        cx1 + dist * math.cos(a),
        cy1 + dist * math.sin(a),
        r2,
        rng.choice((8, 9, 10)),
        _rgba((235, 240, 245), 170),
        rng.uniform(0, math.pi),
    )
    r3 = r1 * 0.42
    _gear(
        d,
        cx1 + (r1 + r3) * 0.95,
        cy1 + r1 * 0.9,
        r3,
        8,
        _rgba(accent, 120),
        rng.uniform(0, math.pi),
    )
    # precision crosshair
    px, py, pr = w * 0.12, h * 0.26, h * 0.09
    line = _rgba((235, 240, 245), 110)
    for k in (1.0, 0.62, 0.25):
        d.ellipse((px - pr * k, py - pr * k, px + pr * k, py + pr * k), outline=line, width=3)
    d.line((px - pr * 1.4, py, px + pr * 1.4, py), fill=line, width=3)
    d.line((px, py - pr * 1.4, px, py + pr * 1.4), fill=line, width=3)


def _motif_frontline(
    d: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int, accent: RGB
) -> None:
    sx, sy, sr = w * rng.uniform(0.68, 0.8), h * 0.5, h * 0.2
    d.ellipse((sx - sr, sy - sr, sx + sr, sy + sr), fill=_rgba(accent, 200))
    for k, alpha in ((1.35, 60), (1.75, 30)):
        d.ellipse(
            (sx - sr * k, sy - sr * k, sx + sr * k, sy + sr * k),
            outline=_rgba(accent, alpha),
            width=6,
        )
    # rolling fields
    for i, alpha in enumerate((110, 150, 200)):
        base = h * (0.62 + i * 0.1)
        amp = h * rng.uniform(0.02, 0.05)
        phase = rng.uniform(0, math.tau)
        pts = [(0.0, float(h))]
        for step in range(0, w + 1, max(1, w // 60)):
            pts.append((step, base + amp * math.sin(phase + step / w * math.tau * 1.3)))
        pts.append((float(w), float(h)))
        d.polygon(pts, fill=_rgba(_mix((20, 60, 50), accent, 0.15 * i), alpha))
    # wheat stalks
    for _ in range(rng.randint(4, 6)):
        x = w * rng.uniform(0.36, 0.6)
        top = h * rng.uniform(0.22, 0.36)
        bottom = float(h)
        lean = rng.uniform(-0.08, 0.08)
        stalk = _rgba((250, 232, 170), 200)
        tip_x = x + lean * (bottom - top)
        d.line((x, bottom, tip_x, top), fill=stalk, width=5)
        grain = h * 0.05
        for j in range(6):
            t = j / 6
            gx = tip_x + (x - tip_x) * t * 0.35
            gy = top + (bottom - top) * t * 0.35
            up = -math.pi / 2 + lean
            _leaf(d, gx, gy, grain, up - 0.55, stalk)
            _leaf(d, gx, gy, grain, up + 0.55, stalk)
        _leaf(d, tip_x, top + grain * 0.2, grain, -math.pi / 2 + lean, stalk)


def _motif_team(d: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int, accent: RGB) -> None:
    cx, cy = w * 0.68, h * 0.46
    ring = h * 0.27
    n = rng.choice((5, 6, 7))
    turn = rng.uniform(0, math.tau)
    nodes = [
        (
            cx + ring * math.cos(turn + i * math.tau / n),
            cy + ring * math.sin(turn + i * math.tau / n),
        )
        for i in range(n)
    ]
    link = _rgba((255, 255, 255), 120)
    for i, (x, y) in enumerate(nodes):
        for x2, y2 in nodes[i + 1 :]:
            d.line((x, y, x2, y2), fill=link, width=3)
        d.line((x, y, cx, cy), fill=link, width=3)
    nr = h * 0.12
    for i, (x, y) in enumerate(nodes):
        color = accent if i % 2 == 0 else (255, 255, 255)
        d.ellipse((x - nr, y - nr, x + nr, y + nr), fill=_rgba(color, 120))
        d.ellipse(
            (x - nr * 0.45, y - nr * 0.45, x + nr * 0.45, y + nr * 0.45), fill=_rgba(color, 220)
        )
    cr = h * 0.09
    d.ellipse((cx - cr, cy - cr, cx + cr, cy + cr), fill=_rgba((255, 255, 255), 230))
    d.ellipse(
        (cx - ring * 1.55, cy - ring * 1.55, cx + ring * 1.55, cy + ring * 1.55),
        outline=_rgba(accent, 90),
        width=4,
    )


def _motif_policy(d: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int, accent: RGB) -> None:
    # a civic building: steps, columns, pediment
    bw = w * 0.34
    x0 = w * rng.uniform(0.55, 0.6)
    x1 = x0 + bw
    base = h * 0.8
    stone = _rgba((240, 236, 226), 215)
    for k in range(3):
        inset = k * bw * 0.03
        d.rectangle(
            (
                x0 - bw * 0.06 + inset,
                base + k * -h * 0.025,
                x1 + bw * 0.06 - inset,
                base + (1 - k) * h * 0.025 + h * 0.025,
            ),
            fill=stone,
        )
    top = h * 0.38
    cols = rng.choice((5, 6))
    col_w = bw / (cols * 2 - 1)
    for i in range(cols):
        cx = x0 + i * col_w * 2
        d.rectangle((cx, top + h * 0.04, cx + col_w, base - h * 0.05), fill=stone)
    d.rectangle((x0 - bw * 0.04, top, x1 + bw * 0.04, top + h * 0.05), fill=stone)
    d.polygon(
        [(x0 - bw * 0.06, top), ((x0 + x1) / 2, top - h * 0.16), (x1 + bw * 0.06, top)], fill=stone
    )
    d.ellipse(
        ((x0 + x1) / 2 - h * 0.03, top - h * 0.09, (x0 + x1) / 2 + h * 0.03, top - h * 0.03),
        fill=_rgba(accent, 255),
    )
    # document lines on the left
    px, py = w * 0.08, h * 0.22
    pw, ph = w * 0.2, h * 0.42
    d.rounded_rectangle(
        (px, py, px + pw, py + ph),
        radius=h * 0.02,
        fill=_rgba((255, 255, 255), 40),
        outline=_rgba((255, 255, 255), 120),
        width=3,
    )
    for i in range(7):
        ly = py + ph * 0.14 + i * ph * 0.11
        lw = pw * (0.75 if i % 3 else 0.5)
        d.rounded_rectangle(
            (px + pw * 0.1, ly, px + pw * 0.1 + lw, ly + ph * 0.035),
            radius=4,
            fill=_rgba(accent, 160),
        )


_MOTIFS: dict[Category, _Motif] = {
    "model_worker": _motif_model_worker,
    "craftsman": _motif_craftsman,
    "frontline_worker": _motif_frontline,
    "team": _motif_team,
    "policy": _motif_policy,
}


def _font(px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=px)


def _encode(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=_JPEG_QUALITY, optimize=True)
    return out.getvalue()


def draw_cover(story: DemoStory, size: tuple[int, int] = (1200, 675)) -> bytes:
    """An abstract JPEG cover for ``story``: same ``cover_seed`` and size, same bytes."""
    w, h = size
    big_w, big_h = w * _SUPERSAMPLE, h * _SUPERSAMPLE
    rng = random.Random(story.cover_seed)  # noqa: S311 - decoration, not security
    top, bottom, accent = _PALETTES[story.category]

    image = _gradient((big_w, big_h), top, bottom, rng.uniform(-35, 35))
    _glow(
        image, (round(big_w * rng.uniform(0.55, 0.85)), round(big_h * 0.4)), big_h // 2, accent, 90
    )

    # soft background circles, drawn and blurred at a quarter of the size
    soft_w, soft_h = max(1, big_w // 4), max(1, big_h // 4)
    soft = Image.new("RGBA", (soft_w, soft_h), (0, 0, 0, 0))
    sd = ImageDraw.Draw(soft)
    for _ in range(rng.randint(3, 5)):
        r = soft_h * rng.uniform(0.15, 0.4)
        x, y = soft_w * rng.uniform(0, 1), soft_h * rng.uniform(0, 1)
        sd.ellipse((x - r, y - r, x + r, y + r), fill=_rgba((255, 255, 255), rng.randint(14, 30)))
    soft = soft.filter(ImageFilter.GaussianBlur(soft_h * 0.02))
    soft = soft.resize((big_w, big_h), Image.Resampling.BILINEAR)
    canvas = Image.alpha_composite(image.convert("RGBA"), soft)

    layer = Image.new("RGBA", (big_w, big_h), (0, 0, 0, 0))
    _MOTIFS[story.category](ImageDraw.Draw(layer), rng, big_w, big_h, accent)
    canvas = Image.alpha_composite(canvas, layer)

    text = Image.new("RGBA", (big_w, big_h), (0, 0, 0, 0))
    td = ImageDraw.Draw(text)
    margin = round(big_h * 0.08)
    # "DEMO" pill, top left
    pill_font = _font(round(big_h * 0.045))
    left, upper, right, lower = td.textbbox((0, 0), "DEMO", font=pill_font)
    pad_x, pad_y = big_h * 0.025, big_h * 0.014
    box = (
        margin,
        margin,
        margin + (right - left) + 2 * pad_x,
        margin + (lower - upper) + 2 * pad_y,
    )
    td.rounded_rectangle(box, radius=(box[3] - box[1]) / 2, fill=(255, 255, 255, 225))
    td.text(
        (margin + pad_x - left, margin + pad_y - upper),
        "DEMO",
        font=pill_font,
        fill=_rgba(top, 255),
    )
    # category label, bottom left, with a rule above it
    label = _LABELS[story.category]
    label_font = _font(round(big_h * 0.1))
    left, upper, right, lower = td.textbbox((0, 0), label, font=label_font)
    lx, ly = margin - left, big_h - margin - (lower - upper) - upper
    td.text((lx + 4, ly + 4), label, font=label_font, fill=(0, 0, 0, 70))
    td.text((lx, ly), label, font=label_font, fill=(255, 255, 255, 240))
    rule_y = ly + upper - big_h * 0.04
    td.rectangle(
        (margin, rule_y, margin + big_h * 0.14, rule_y + big_h * 0.012), fill=_rgba(accent, 255)
    )
    small = _font(round(big_h * 0.032))
    td.text(
        (margin, rule_y - big_h * 0.065),
        "JIANGXIN  ·  ZHUZHOU",
        font=small,
        fill=(255, 255, 255, 170),
    )
    canvas = Image.alpha_composite(canvas, text)

    return _encode(canvas.resize(size, Image.Resampling.LANCZOS))


def draw_portrait(person: DemoPerson, size: tuple[int, int] = (600, 600)) -> bytes:
    """An abstract JPEG avatar (no initials), deterministic from ``person.key``."""
    digest = hashlib.sha256(person.key.encode("utf-8")).digest()
    w, h = size
    big_w, big_h = w * _SUPERSAMPLE, h * _SUPERSAMPLE
    hue = digest[0] / 255

    def colour(h_shift: float, sat: float, val: float) -> RGB:
        hh = (hue + h_shift) % 1.0
        i = int(hh * 6)
        f = hh * 6 - i
        p, q, t = val * (1 - sat), val * (1 - f * sat), val * (1 - (1 - f) * sat)
        r, g, b = ((val, t, p), (q, val, p), (p, val, t), (p, q, val), (t, p, val), (val, p, q))[
            i % 6
        ]
        return (round(r * 255), round(g * 255), round(b * 255))

    dark, light = colour(0.0, 0.7, 0.42), colour(0.08, 0.55, 0.82)
    image = _gradient((big_w, big_h), dark, light, (digest[1] / 255 - 0.5) * 90)
    canvas = image.convert("RGBA")
    layer = Image.new("RGBA", (big_w, big_h), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    cx, cy = big_w / 2, big_h / 2
    side = min(big_w, big_h)
    # concentric rings
    for k in range(4):
        r = side * (0.46 - k * 0.09)
        d.ellipse(
            (cx - r, cy - r, cx + r, cy + r),
            outline=(255, 255, 255, 50 + 25 * k),
            width=round(side * 0.012),
        )
    # orbiting discs placed by the hash
    for k in range(5):
        angle = digest[2 + k] / 255 * math.tau
        dist = side * (0.12 + (digest[7 + k] / 255) * 0.24)
        r = side * (0.05 + (digest[12 + k] / 255) * 0.09)
        x, y = cx + dist * math.cos(angle), cy + dist * math.sin(angle)
        fill = colour(0.12 * (k + 1), 0.45, 0.95)
        d.ellipse((x - r, y - r, x + r, y + r), fill=_rgba(fill, 140 + digest[17 + k] % 90))
    core = side * 0.1
    d.ellipse((cx - core, cy - core, cx + core, cy + core), fill=(255, 255, 255, 220))
    canvas = Image.alpha_composite(canvas, layer)
    return _encode(canvas.resize(size, Image.Resampling.LANCZOS))


# --------------------------------------------------------------------------- files


def _write(path: Path, data: bytes) -> None:
    """Write through a temporary name, so that an interrupted run leaves no half JPEG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def write_demo_art(content: DemoContent, out: Path, *, force: bool = False) -> list[Path]:
    """Draw what is missing under ``out`` (everything with ``force``); returns what was written."""
    jobs: list[tuple[Path, Callable[[], bytes]]] = [
        *((cover_path(out, s.key), partial(draw_cover, s)) for s in content.stories),
        *((portrait_path(out, p.key), partial(draw_portrait, p)) for p in content.people),
    ]
    written = []
    for path, draw in jobs:
        if force or not path.is_file():
            _write(path, draw())
            written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.demo_art",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="the demo data directory (default: %(default)s)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_ART_DIR,
        help="where the images go (default: %(default)s)",
    )
    parser.add_argument("--force", action="store_true", help="redraw images that exist")
    args = parser.parse_args(argv)
    try:
        content = load_demo_content(args.data)
    except DemoDataError as exc:
        print(exc, file=sys.stderr)
        return 1
    written = write_demo_art(content, args.out, force=args.force)
    total = len(content.stories) + len(content.people)
    print(f"demo art in {args.out}: {len(written)} drawn, {total - len(written)} already there")
    return 0


if __name__ == "__main__":
    sys.exit(main())
