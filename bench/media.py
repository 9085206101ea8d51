"""The photo pipeline in-process: ours vs. naive Pillow vs. a tuned Pillow floor.

Two generated photos (deterministic: gradients, shapes, texture and sensor-like noise,
so JPEG compression behaves like a camera's): a 12 MP camera JPEG (4000x3000, EXIF
orientation 6, GPS, quality 92) and a 1080x1440 WeChat-style JPEG (quality 85).

All three contenders produce the same outputs: thumb/medium/large (longest side 320,
960, 1920, never enlarged), each as progressive optimised JPEG and as WebP with the
pipeline's encoder settings.

- naive: open -> exif_transpose -> LANCZOS resize of the full image to each size -> save
- floor: draft to the largest size -> exif_transpose -> LANCZOS resize with
  reducing_gap=2.0 to each size -> save
- ours:  media.pipeline.process (also: sniffing, pixel cap, sRGB, SHA-256, dHash,
  dominant colour, LQIP)

Runs alternate between contenders so drift hits all alike; prints best and median ms
per photo and the ratios. Goals (issue 3): 12 MP ours <= 1.0x floor and naive/ours
>= 2.5; 1080x1440 <= 25 ms per photo. Then how long refusing a pixel bomb takes (a
header claiming 30000x30000 or 20000x20000: refused from the header, goal < 1 s; the
tests check that nothing is decoded, this measures it).

    make bench-media      # or: python -m bench.media --runs 7 --http-seconds 20
"""

from __future__ import annotations

import argparse
import platform
import random
import struct
import sys
import time
import zlib
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from statistics import median

import PIL
from PIL import ExifTags, Image, ImageDraw, ImageFilter, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from media import pipeline

SIZES = pipeline.DEFAULT_SIZES
WECHAT_GOAL_MS = 25.0


def make_photo(width: int, height: int, seed: int) -> Image.Image:
    """A deterministic camera-like RGB picture: smooth shapes, texture and fine noise."""
    rnd = random.Random(seed)
    sw, sh = max(width // 4, 1), max(height // 4, 1)
    ramp = Image.linear_gradient("L")
    base = Image.merge(
        "RGB",
        (
            ramp.resize((sw, sh)),
            ramp.rotate(90).resize((sw, sh)),
            ramp.rotate(45).resize((sw, sh)),
        ),
    )
    draw = ImageDraw.Draw(base)
    for _ in range(120):
        x0, y0 = rnd.randrange(sw), rnd.randrange(sh)
        box = (x0, y0, x0 + rnd.randrange(sw // 3 + 1), y0 + rnd.randrange(sh // 3 + 1))
        fill = (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256))
        if rnd.random() < 0.5:
            draw.ellipse(box, fill=fill)
        else:
            draw.rectangle(box, fill=fill)
    base = base.filter(ImageFilter.GaussianBlur(1.5))
    texture = Image.frombytes("L", (sw, sh), rnd.randbytes(sw * sh))
    texture = texture.filter(ImageFilter.GaussianBlur(0.8))
    base = Image.blend(base, Image.merge("RGB", (texture, texture, texture)), 0.15)
    photo = base.resize((width, height), Image.Resampling.BICUBIC)
    noise = Image.merge(
        "RGB",
        [Image.frombytes("L", (width, height), rnd.randbytes(width * height)) for _ in "RGB"],
    )
    return Image.blend(photo, noise, 0.10)


def camera_jpeg() -> bytes:
    """12 MP, stored landscape with orientation 6 (shown portrait), GPS, quality 92."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "BenchCam"
    exif[ExifTags.Base.Model] = "One"
    exif[ExifTags.Base.Orientation] = 6
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (27.0, 49.0, 30.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (113.0, 8.0, 0.0)
    buf = BytesIO()
    make_photo(4000, 3000, seed=12).save(buf, "JPEG", quality=92, exif=exif.tobytes())
    return buf.getvalue()


def wechat_jpeg() -> bytes:
    """1080x1440, quality 85, no metadata: what WeChat hands a mini-program."""
    buf = BytesIO()
    make_photo(1080, 1440, seed=1080).save(buf, "JPEG", quality=85)
    return buf.getvalue()


def _save_all(im: Image.Image) -> list[bytes]:
    return [pipeline.encode_jpeg(im), pipeline.encode_webp(im)]


def naive(data: bytes) -> list[bytes]:
    """Open, exif_transpose, LANCZOS-resize the full image to each size, save."""
    im = ImageOps.exif_transpose(Image.open(BytesIO(data)))
    out: list[bytes] = []
    for size in sorted(SIZES.values(), reverse=True):
        target = pipeline.fit(im.size, size)
        variant = im if target == im.size else im.resize(target, Image.Resampling.LANCZOS)
        out += _save_all(variant)
    return out


def floor(data: bytes) -> list[bytes]:
    """Draft-decode to the largest size, exif_transpose, resize with reducing_gap, save."""
    opened = Image.open(BytesIO(data))
    opened.draft("RGB", pipeline.fit(opened.size, max(SIZES.values())))
    im = ImageOps.exif_transpose(opened)
    out: list[bytes] = []
    for size in sorted(SIZES.values(), reverse=True):
        target = pipeline.fit(im.size, size)
        variant = (
            im
            if target == im.size
            else im.resize(target, Image.Resampling.LANCZOS, reducing_gap=pipeline.REDUCING_GAP)
        )
        out += _save_all(variant)
    return out


def ours(data: bytes) -> object:
    """The pipeline."""
    return pipeline.process(data, max_pixels=pipeline.DEFAULT_MAX_PIXELS, sizes=SIZES)


def png_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A PNG header claiming ``width`` x ``height`` with a few bytes of pixel data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def jpeg_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A small real JPEG whose frame header (SOF0) claims ``width`` x ``height``."""
    buf = BytesIO()
    make_photo(16, 16, seed=16).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    pos = 2
    while data[pos + 1] != 0xC0:  # walk the segments to the frame header
        pos += 2 + struct.unpack(">H", data[pos + 2 : pos + 4])[0]
    data[pos + 5 : pos + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def bomb_refusals(runs: int) -> dict[str, float]:
    """Best milliseconds for ``process`` to refuse each bomb (ImageTooLarge)."""
    best: dict[str, float] = {}
    for name, data in (("30000x30000 PNG", png_bomb()), ("20000x20000 JPEG", jpeg_bomb())):
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            try:
                pipeline.process(data, max_pixels=pipeline.DEFAULT_MAX_PIXELS)
            except pipeline.ImageTooLarge:
                times.append((time.perf_counter() - start) * 1000)
            else:
                raise AssertionError(f"the {name} bomb was not refused")
        best[name] = min(times)
    return best


def measure(
    contenders: dict[str, Callable[[bytes], object]], data: bytes, runs: int
) -> dict[str, list[float]]:
    """Milliseconds per run for each contender, one warm-up each, runs interleaved."""
    for fn in contenders.values():
        fn(data)
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(runs):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn(data)
            times[name].append((time.perf_counter() - start) * 1000)
    return times


def report(title: str, data: bytes, times: dict[str, list[float]]) -> dict[str, float]:
    """Print one photo's table; return the median per contender."""
    with Image.open(BytesIO(data)) as im:
        size = f"{im.width}x{im.height}"
    print(f"\n{title}: {size}, {len(data) / 1e6:.2f} MB")
    print(f"  {'':6} {'best ms':>9} {'median ms':>10}")
    medians: dict[str, float] = {}
    for name, values in times.items():
        medians[name] = median(values)
        print(f"  {name:6} {min(values):9.1f} {medians[name]:10.1f}")
    return medians


def main() -> None:
    """Generate both photos, time the three contenders and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=7, help="timed runs per contender")
    parser.add_argument("--http-seconds", type=float, default=20.0, help="0 skips HTTP")
    parser.add_argument("--http-concurrency", type=int, default=8)
    args = parser.parse_args()

    print(
        f"Python {platform.python_version()}, Pillow {PIL.__version__}, "
        f"{platform.machine()}, runs={args.runs} (ms per photo, one process, one thread)"
    )
    contenders: dict[str, Callable[[bytes], object]] = {
        "ours": ours,
        "floor": floor,
        "naive": naive,
    }

    camera = camera_jpeg()
    cam = report("12 MP camera JPEG", camera, measure(contenders, camera, args.runs))
    wechat = wechat_jpeg()
    wx = report("1080x1440 WeChat JPEG", wechat, measure(contenders, wechat, args.runs))

    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    ours_floor = cam["ours"] / cam["floor"]
    naive_ours = cam["naive"] / cam["ours"]
    print("\nRatios (medians)")
    print(f"  12 MP   ours / tuned floor  {ours_floor:5.2f}x  (goal <= 1.00)  ", end="")
    print(verdict(ours_floor <= 1.0))
    print(f"  12 MP   naive / ours        {naive_ours:5.2f}x  (goal >= 2.50)  ", end="")
    print(verdict(naive_ours >= 2.5))
    print(f"  1080x1440 ours / floor      {wx['ours'] / wx['floor']:5.2f}x")
    print(f"  1080x1440 naive / ours      {wx['naive'] / wx['ours']:5.2f}x")
    print(
        f"  1080x1440 ours              {wx['ours']:5.1f} ms per photo "
        f"(goal <= {WECHAT_GOAL_MS:.0f} ms)  {verdict(wx['ours'] <= WECHAT_GOAL_MS)}"
    )
    print("\nPixel bombs (a header claiming too many pixels), refused by process()")
    for name, ms in bomb_refusals(args.runs).items():
        print(f"  {name:18} {ms:8.2f} ms  (goal < 1000 ms)  {verdict(ms < 1000)}")
    if args.http_seconds > 0:
        # Needs the services (make bench-media sources .data/services.env).
        from bench.media_http import run_http_benchmark

        run_http_benchmark(camera, args.http_concurrency, args.http_seconds)


if __name__ == "__main__":
    main()
