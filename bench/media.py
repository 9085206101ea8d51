"""Check-in photos, the hot path (issue 10): an upload answered through HTTP, against
bare Pillow making JPEG variants of the same photo in this process, in one run.

Two generated photos (deterministic: gradients, shapes, texture and sensor-like noise,
so JPEG compression behaves like a camera's): a 1080x1440 WeChat-style JPEG (quality
85, what most check-ins are) and a 12 MP camera JPEG (4000x3000, EXIF orientation 6,
GPS, quality 92).

1. **The answer** (needs the services): a server with one image worker and one client
   uploading one photo at a time with ``purpose=checkin``, from sending the request to
   having read its 201. Each upload alternates with, in this process:

   - bare Pillow, the yardstick of the goals: open -> exif_transpose -> resize of the
     whole picture to 1280, 640 and 320 px (longest side) -> save as JPEG (quality 82;
     Pillow's defaults otherwise: BICUBIC, which our pipeline uses too, baseline JPEG);
   - for reference, Pillow's ``thumbnail()`` for each size, on a fresh open (it decodes
     JPEG at a reduced scale, ``draft``, and uses ``reducing_gap``), and bare Pillow
     making our sizes (1920, 960, 320).

   Goals (medians): 1080x1440 answered in <= 1.0x bare Pillow, 12 MP in <= 1.5x.
   The answer carries the JPEG variants (progressive, optimised), LQIP, dHash and
   dominant colour, stored in GridFS with the media record; the WebP variants are made
   afterwards by the job worker and are timed in part 2.
2. **The pipeline in-process** (one process, one thread; ms per photo): ours (what the
   answer waits for: ``pipeline.process``; and with the WebP job's
   ``pipeline.webp_variants``) against a tuned Pillow floor and naive Pillow, which both
   make our three sizes as progressive optimised JPEG and WebP:

   - naive: open -> exif_transpose -> resize of the full image to each size -> save
   - floor: draft to the largest size -> exif_transpose -> resize with reducing_gap=2.0
     to each size -> save
   (resized with our filter, BICUBIC)

3. How long refusing a pixel bomb takes (a header claiming 30000x30000 or 20000x20000:
   refused from the header, goal < 1 s; the tests check nothing is decoded).
4. Throughput (``--http-seconds``, 0 skips it): N concurrent 12 MP uploads for D s.

Runs alternate between contenders so drift hits all alike. The machine is shared:
run it a few times and compare ratios, not milliseconds across runs.

    make bench-media      # or: python -m bench.media --runs 9 --http-seconds 20
    python -m bench.media --http-seconds 0 --compare /tmp/base   # an older checkout too
"""

from __future__ import annotations

import argparse
import contextlib
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

from bench.common import compare_checkout
from media import pipeline

SIZES = pipeline.DEFAULT_SIZES
BARE_SIZES = (1280, 640, 320)  # the goals' yardstick (issue 10)
BARE_QUALITY = pipeline.JPEG_QUALITY
# Goals: the answer through HTTP / bare Pillow (1280, 640, 320), medians.
ANSWER_GOALS = {"1080x1440": 1.0, "12 MP": 1.5}


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


def bare_pillow(data: bytes, sizes: tuple[int, ...] = BARE_SIZES) -> list[bytes]:
    """Open, exif_transpose, resize the whole picture to each size, save JPEG."""
    im = ImageOps.exif_transpose(Image.open(BytesIO(data)))
    out: list[bytes] = []
    for size in sizes:
        target = pipeline.fit(im.size, size)
        variant = im if target == im.size else im.resize(target)  # Pillow's default filter
        buf = BytesIO()
        variant.save(buf, "JPEG", quality=BARE_QUALITY)
        out.append(buf.getvalue())
    return out


def pillow_thumbnail(data: bytes) -> list[bytes]:
    """Pillow's ``thumbnail()`` for each size (draft, reducing_gap), then exif_transpose."""
    out: list[bytes] = []
    for size in BARE_SIZES:
        im = Image.open(BytesIO(data))
        im.thumbnail((size, size))
        buf = BytesIO()
        ImageOps.exif_transpose(im).save(buf, "JPEG", quality=BARE_QUALITY)
        out.append(buf.getvalue())
    return out


def bare_pillow_our_sizes(data: bytes) -> list[bytes]:
    """Bare Pillow making our sizes (1920, 960, 320) instead."""
    return bare_pillow(data, tuple(sorted(SIZES.values(), reverse=True)))


def naive(data: bytes) -> list[bytes]:
    """Open, exif_transpose, resize the full image to each size, save."""
    im = ImageOps.exif_transpose(Image.open(BytesIO(data)))
    out: list[bytes] = []
    for size in sorted(SIZES.values(), reverse=True):
        target = pipeline.fit(im.size, size)
        variant = im if target == im.size else im.resize(target, pipeline.RESAMPLE)
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
            else im.resize(target, pipeline.RESAMPLE, reducing_gap=pipeline.REDUCING_GAP)
        )
        out += _save_all(variant)
    return out


def ours(data: bytes) -> object:
    """What the answer waits for: the JPEG variants, LQIP and hashes."""
    return pipeline.process(data, max_pixels=pipeline.DEFAULT_MAX_PIXELS, sizes=SIZES)


def ours_with_webp(data: bytes) -> object:
    """The answer's part and the WebP job's, one after the other."""
    processed = pipeline.process(data, max_pixels=pipeline.DEFAULT_MAX_PIXELS, sizes=SIZES)
    return pipeline.webp_variants([v.jpeg for v in processed.variants.values()])


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
    print(f"  {'':16} {'best ms':>9} {'median ms':>10}")
    medians: dict[str, float] = {}
    for name, values in times.items():
        medians[name] = median(values)
        print(f"  {name:16} {min(values):9.1f} {medians[name]:10.1f}")
    return medians


def answer_through_http(
    photos: dict[str, bytes], runs: int, compare: Path | None = None
) -> dict[str, float]:
    """Part 1: each photo's upload answered through HTTP, alternating with bare Pillow
    (and with the ``compare`` checkout's server); prints the table, returns the ratios."""
    from bench.media_http import AnswerClock, serving

    contenders: dict[str, Callable[[bytes], object]] = {
        "bare": bare_pillow,
        "thumbnail": pillow_thumbnail,
        "bare ours": bare_pillow_our_sizes,
    }
    times: dict[str, dict[str, list[float]]] = {
        name: {"http": [], "compare": [], **{c: [] for c in contenders}} for name in photos
    }
    # CPU ms: the server's and its image worker's for our uploads; bare Pillow's.
    cpu: dict[str, dict[str, float]] = {name: {"http": 0.0, "bare": 0.0} for name in photos}
    with contextlib.ExitStack() as stack:
        servers = {"http": stack.enter_context(serving(1))}
        if compare is not None:
            servers["compare"] = stack.enter_context(serving(1, compare))
        clocks = {key: AnswerClock(base, server.pid) for key, (base, server) in servers.items()}
        for clock in clocks.values():
            stack.callback(clock.close)
        for data in photos.values():  # warm-up: the workers spawned, Pillow imported
            for fn in contenders.values():
                fn(data)
            for clock in clocks.values():
                clock.upload_ms(data)
                clock.upload_ms(data)
        for _ in range(runs):
            for name, data in photos.items():
                for contender, fn in contenders.items():
                    start, start_cpu = time.perf_counter(), time.thread_time()
                    fn(data)
                    times[name][contender].append((time.perf_counter() - start) * 1000)
                    if contender == "bare":
                        cpu[name]["bare"] += (time.thread_time() - start_cpu) * 1000
                for server, clock in clocks.items():
                    before = clock.server_cpu_ms()
                    times[name][server].append(clock.upload_ms(data))
                    if server == "http":
                        cpu[name]["http"] += clock.server_cpu_ms() - before
    print(
        f"\nThe answer through HTTP (purpose=checkin, one at a time, one image worker) "
        f"against bare Pillow in this process, medians of {runs} alternating runs (ms)"
    )
    print(
        f"  {'photo':10} {'bare Pillow':>12} {'ours, answer':>13} {'ratio':>6} {'goal':>6}"
        f"  {'':6} {'thumbnail()':>12} {'ratio':>6} {'bare, our sizes':>16} {'ratio':>6}"
    )
    ratios: dict[str, float] = {}
    for name, got in times.items():
        bare, http = median(got["bare"]), median(got["http"])
        thumb, bare_ours = median(got["thumbnail"]), median(got["bare ours"])
        ratios[name] = http / bare
        goal = ANSWER_GOALS[name]
        verdict = "ok" if ratios[name] <= goal else "MISSED"
        print(
            f"  {name:10} {bare:12.1f} {http:13.1f} {ratios[name]:5.2f}x {goal:5.2f}x  "
            f"{verdict:6} {thumb:12.1f} {http / thumb:5.2f}x "
            f"{bare_ours:16.1f} {http / bare_ours:5.2f}x"
        )
    print(
        "  bare Pillow: JPEG 1280/640/320 px, each resized from the whole picture; "
        "thumbnail(): the same sizes, draft-decoded; 'our sizes': 1920/960/320 px"
    )
    for name, used in cpu.items():
        print(
            f"  {name:10} CPU per photo: the server and its image worker "
            f"{used['http'] / runs:.1f} ms, bare Pillow {used['bare'] / runs:.1f} ms "
            f"({used['http'] / used['bare']:.2f}x; the database's and the client's not counted)"
        )
    if compare is not None:
        for name, got in times.items():
            before = median(got["compare"])
            print(
                f"  {name:10} answered by {compare.name}: {before:.1f} ms, "
                f"{before / median(got['bare']):.2f}x bare Pillow (the same run)"
            )
    return ratios


def main() -> None:
    """Time the answer through HTTP, the pipeline in-process, the bombs, the throughput."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=9, help="timed runs per contender")
    parser.add_argument("--no-answer", action="store_true", help="skip part 1 (needs the services)")
    parser.add_argument("--http-seconds", type=float, default=20.0, help="0 skips part 4")
    parser.add_argument("--http-concurrency", type=int, default=8)
    parser.add_argument(
        "--compare", type=Path, help="part 1: also upload to this checkout (its .venv)"
    )
    args = parser.parse_args()

    print(
        f"Python {platform.python_version()}, Pillow {PIL.__version__}, "
        f"{platform.machine()}, runs={args.runs}"
    )
    camera, wechat = camera_jpeg(), wechat_jpeg()
    if not args.no_answer:
        # Needs the services (make bench-media sources .data/services.env).
        answer_through_http(
            {"1080x1440": wechat, "12 MP": camera}, args.runs, compare_checkout(args.compare)
        )

    contenders: dict[str, Callable[[bytes], object]] = {
        "ours, answer": ours,
        "ours + WebP job": ours_with_webp,
        "floor": floor,
        "naive": naive,
    }
    print("\nThe pipeline in-process (ms per photo, one process, one thread)")
    wx = report("1080x1440 WeChat JPEG", wechat, measure(contenders, wechat, args.runs))
    cam = report("12 MP camera JPEG", camera, measure(contenders, camera, args.runs))

    print("\nRatios (medians; floor and naive make JPEG and WebP, as ours does in total)")
    for label, got in (("1080x1440", wx), ("12 MP", cam)):
        total = got["ours + WebP job"]
        print(
            f"  {label:9} answer / floor {got['ours, answer'] / got['floor']:5.2f}x   "
            f"answer + WebP job / floor {total / got['floor']:5.2f}x   "
            f"naive / (answer + WebP job) {got['naive'] / total:5.2f}x"
        )
    print("\nPixel bombs (a header claiming too many pixels), refused by process()")
    for name, ms in bomb_refusals(args.runs).items():
        verdict = "ok" if ms < 1000 else "MISSED"
        print(f"  {name:18} {ms:8.2f} ms  (goal < 1000 ms)  {verdict}")
    if args.http_seconds > 0:
        from bench.media_http import run_http_benchmark

        run_http_benchmark(camera, args.http_concurrency, args.http_seconds)


if __name__ == "__main__":
    main()
