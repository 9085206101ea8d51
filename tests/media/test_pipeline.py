"""The photo pipeline on good and bad input; every fixture is generated here with Pillow."""

from __future__ import annotations

import base64
import hashlib
import pickle
import resource
import struct
import warnings
import zlib
from io import BytesIO

import pillow_heif
import pytest
from PIL import ExifTags, Image, ImageCms, ImageDraw, ImageFile, ImageOps

from media.pipeline import (
    DEFAULT_MAX_PIXELS,
    ImageInfo,
    ImageInvalid,
    ImageTooLarge,
    ImageUnsupported,
    ProcessedImage,
    Variant,
    probe,
    process,
    webp_variants,
)

pillow_heif.register_heif_opener()

RED = (255, 0, 0)
BLUE = (0, 0, 255)
WHITE = (255, 255, 255)
Pixel = tuple[int, int, int]


# --- fixtures and helpers -------------------------------------------------------------


def webp_of(variant: Variant) -> bytes:
    """The variant's WebP, as the job worker makes it (from the stored JPEG)."""
    return webp_variants([variant.jpeg])[0]


def encode(im: Image.Image, fmt: str, **params: object) -> bytes:
    buf = BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def scene(width: int = 640, height: int = 400, seed: int = 0) -> Image.Image:
    """A structured RGB picture (so hashes have clear edges); ``seed`` changes the layout."""
    im = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    draw = ImageDraw.Draw(im)
    for i in range(6):
        k = (i * 7 + seed * 13) % 11
        box = (k * width // 12, (k * 5 % 11) * height // 12)
        end = (box[0] + width // 5, box[1] + height // 4)
        fill = ((k * 40) % 256, (k * 90 + 60) % 256, (k * 150 + 30) % 256)
        draw.rectangle((*box, *end), fill=fill)
    return im


def pixel(data: bytes, xy: tuple[int, int]) -> Pixel:
    with Image.open(BytesIO(data)) as im:
        px = im.convert("RGB").getpixel(xy)
    assert isinstance(px, tuple)
    return px[0], px[1], px[2]


def is_red(px: Pixel) -> bool:
    return px[0] > 200 and px[1] < 80 and px[2] < 80


def is_white(px: Pixel) -> bool:
    return min(px) > 230


def near(px: Pixel, want: Pixel, tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(px, want, strict=True))


def png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def png(width: int, height: int, depth: int, color_type: int, rows: bytes = b"") -> bytes:
    """A PNG written by hand: any header we like, the IDAT we give (possibly too short)."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(rows))
        + png_chunk(b"IEND", b"")
    )


def jpeg_segments(data: bytes) -> list[tuple[int, int]]:
    """(marker, offset) of every JPEG segment up to the first scan."""
    assert data[:2] == b"\xff\xd8"
    out: list[tuple[int, int]] = []
    pos = 2
    while pos < len(data):
        assert data[pos] == 0xFF
        marker = data[pos + 1]
        out.append((marker, pos))
        if marker == 0xDA:  # SOS: entropy-coded data follows
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        pos += 2 + length
    return out


def huffman_tables(data: bytes) -> list[bytes]:
    """The JPEG's DHT segments (libjpeg's standard tables unless optimised)."""
    out = []
    for marker, pos in jpeg_segments(data):
        if marker == 0xC4:
            (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
            out.append(data[pos : pos + 2 + length])
    return out


def webp_chunks(data: bytes) -> list[bytes]:
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    out: list[bytes] = []
    pos = 12
    while pos + 8 <= len(data):
        kind = data[pos : pos + 4]
        (length,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        out.append(kind)
        pos += 8 + length + (length & 1)
    return out


def assert_no_metadata(result: ProcessedImage) -> None:
    for variant in result.variants.values():
        markers = [marker for marker, _ in jpeg_segments(variant.jpeg)]
        # JFIF APP0, quantisation and Huffman tables, baseline frame header, scan.
        assert set(markers) <= {0xE0, 0xDB, 0xC4, 0xC0, 0xDA}, [hex(m) for m in markers]
        assert set(webp_chunks(webp_of(variant))) <= {b"VP8 ", b"VP8L"}
        for blob in (variant.jpeg, webp_of(variant)):
            with Image.open(BytesIO(blob)) as im:
                assert not im.getexif()
                assert not {"icc_profile", "exif", "xmp", "comment"} & set(im.info)
        for needle in (b"Exif", b"GPS", b"ICC_PROFILE", b"http://ns.adobe.com/xap"):
            assert needle not in variant.jpeg


# --- refusals ---------------------------------------------------------------------------


def _gif() -> bytes:
    return encode(scene(64, 48), "GIF")


def _tiff() -> bytes:
    return encode(scene(64, 48), "TIFF")


def _bmp() -> bytes:
    return encode(scene(64, 48), "BMP")


def _jpeg2000() -> bytes:
    return encode(scene(64, 48), "JPEG2000")


UNSUPPORTED = {
    "zero bytes": lambda: b"",
    "text named .jpg": lambda: b"just some notes, saved as photo.jpg\n" * 4,
    "svg with script": lambda: (
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" '
        b'height="10"><script>alert(document.cookie)</script><rect width="10" '
        b'height="10"/></svg>'
    ),
    "html": lambda: b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>",
    "gif": _gif,
    "tiff": _tiff,
    "bmp": _bmp,
    "psd": lambda: b"8BPS\x00\x01" + b"\x00" * 6 + struct.pack(">HIIHH", 3, 10, 10, 8, 3),
    "jpeg2000": _jpeg2000,
}


@pytest.mark.parametrize("make", UNSUPPORTED.values(), ids=UNSUPPORTED.keys())
def test_unsupported_is_refused_by_probe_and_process(make: object) -> None:
    assert callable(make)
    data = make()
    with pytest.raises(ImageUnsupported):
        probe(data, DEFAULT_MAX_PIXELS)
    with pytest.raises(ImageUnsupported):
        process(data, max_pixels=DEFAULT_MAX_PIXELS)


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The sizes of the file images Pillow loads (decodes, the first time: ``ImageFile.load``)
    during the test."""
    seen: list[tuple[int, int]] = []
    load = ImageFile.ImageFile.load

    def recording_load(self: ImageFile.ImageFile) -> object:
        seen.append(self.size)
        return load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", recording_load)
    return seen


def test_decodes_sees_what_pillow_decodes(decodes: list[tuple[int, int]]) -> None:
    process(encode(scene(64, 48), "PNG"))
    assert (64, 48) in decodes


def test_png_header_claiming_30000_squared_is_refused_without_decoding_or_allocating(
    decodes: list[tuple[int, int]],
) -> None:
    bomb = png(30000, 30000, 8, 2, b"\x00" * 64)
    header_only = bomb[: 8 + 25]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for data in (bomb, header_only):
        with pytest.raises(ImageTooLarge):
            probe(data, DEFAULT_MAX_PIXELS)
        with pytest.raises(ImageTooLarge):
            process(data, max_pixels=DEFAULT_MAX_PIXELS)
    assert decodes == []  # refused from the header (bench/media.py times it)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert grown_kib < 100_000  # 30000 x 30000 RGB would be 2.7 GB


def test_jpeg_header_claiming_too_many_pixels_is_refused_without_decoding(
    decodes: list[tuple[int, int]],
) -> None:
    data = bytearray(encode(scene(16, 16), "JPEG"))
    [sof] = [pos for marker, pos in jpeg_segments(bytes(data)) if marker == 0xC0]
    data[sof + 5 : sof + 9] = struct.pack(">HH", 20000, 20000)
    with pytest.raises(ImageTooLarge):
        process(bytes(data), max_pixels=DEFAULT_MAX_PIXELS)
    assert decodes == []  # refused from the header (bench/media.py times it)


def test_max_pixels_is_ours_to_set() -> None:
    data = encode(scene(200, 100), "PNG")
    assert probe(data, 20_000).width == 200
    with pytest.raises(ImageTooLarge):
        probe(data, 19_999)
    with pytest.raises(ImageTooLarge):
        process(data, max_pixels=19_999)


def test_pillow_bomb_warning_becomes_too_large_not_a_warning() -> None:
    # 100 MP is above Pillow's own MAX_IMAGE_PIXELS (~89 MP): even with a higher cap of
    # ours, Pillow's DecompressionBombWarning must surface as our error (and, under
    # filterwarnings=error, must not leak as a warning).
    data = png(10000, 10000, 8, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # as in production, where warnings only print
        with pytest.raises(ImageTooLarge):
            probe(data, 10**9)
        with pytest.raises(ImageTooLarge):
            process(data, max_pixels=10**9)


def test_truncated_jpeg_is_invalid() -> None:
    whole = encode(scene(), "JPEG", quality=90)
    for cut in (len(whole) // 2, len(whole) - 200, len(whole) - 2):
        truncated = whole[:cut]
        assert probe(truncated, DEFAULT_MAX_PIXELS).format == "JPEG"  # header only
        with pytest.raises(ImageInvalid):
            process(truncated, max_pixels=DEFAULT_MAX_PIXELS)


def test_truncated_progressive_jpeg_is_invalid() -> None:
    whole = encode(scene(), "JPEG", quality=90, progressive=True)
    with pytest.raises(ImageInvalid):
        process(whole[: len(whole) * 2 // 3], max_pixels=DEFAULT_MAX_PIXELS)


def test_truncated_and_corrupt_png_are_invalid() -> None:
    whole = encode(scene(), "PNG")
    with pytest.raises(ImageInvalid):
        process(whole[: len(whole) // 2], max_pixels=DEFAULT_MAX_PIXELS)
    bad_crc = bytearray(whole)
    bad_crc[29] ^= 0xFF  # inside IHDR's CRC
    with pytest.raises(ImageInvalid):
        process(bytes(bad_crc), max_pixels=DEFAULT_MAX_PIXELS)
    short_rows = png(64, 64, 8, 2, b"\x00" * 100)
    with pytest.raises(ImageInvalid):
        process(short_rows, max_pixels=DEFAULT_MAX_PIXELS)


def test_jpeg_magic_with_garbage_is_invalid_not_unsupported() -> None:
    with pytest.raises(ImageInvalid):
        process(b"\xff\xd8\xff\xe0<html>not a jpeg</html>", max_pixels=DEFAULT_MAX_PIXELS)


def test_jpeg_followed_by_html_decodes_and_the_trailer_is_dropped() -> None:
    clean = encode(scene(), "JPEG", quality=90)
    polyglot = clean + b"<html><script>alert(1)</script></html>"
    a = process(clean, max_pixels=DEFAULT_MAX_PIXELS)
    b = process(polyglot, max_pixels=DEFAULT_MAX_PIXELS)
    assert b.original_sha256 != a.original_sha256
    assert b.phash == a.phash
    for name, variant in b.variants.items():
        assert variant.jpeg == a.variants[name].jpeg
        assert b"<html>" not in variant.jpeg
        assert b"<html>" not in webp_of(variant)


def test_load_truncated_images_stays_false(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES"):
        process(encode(scene(), "JPEG"), max_pixels=DEFAULT_MAX_PIXELS)


# --- formats and colour -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "fmt_out", "content_type"),
    [
        ("JPEG", "JPEG", "image/jpeg"),
        ("PNG", "PNG", "image/png"),
        ("WEBP", "WEBP", "image/webp"),
        ("HEIF", "HEIF", "image/heic"),
    ],
)
def test_allowed_formats_are_sniffed_from_bytes(fmt: str, fmt_out: str, content_type: str) -> None:
    data = encode(scene(300, 200), fmt)
    assert probe(data, DEFAULT_MAX_PIXELS) == ImageInfo(fmt_out, content_type, 300, 200)
    result = process(data, max_pixels=DEFAULT_MAX_PIXELS)
    assert result.content_type == content_type
    assert (result.width, result.height) == (300, 200)


def test_mpo_counts_as_jpeg_and_uses_the_first_picture() -> None:
    first = Image.new("RGB", (2400, 1800), RED)
    data = encode(first, "MPO", save_all=True, append_images=[Image.new("RGB", (2400, 1800), BLUE)])
    with Image.open(BytesIO(data)) as check:
        assert check.format == "MPO"
    assert probe(data, DEFAULT_MAX_PIXELS) == ImageInfo("JPEG", "image/jpeg", 2400, 1800)
    result = process(data, max_pixels=DEFAULT_MAX_PIXELS)
    assert (result.variants["large"].width, result.variants["large"].height) == (1920, 1440)
    assert is_red(pixel(result.variants["large"].jpeg, (100, 100)))


def test_heic_round_trip_keeps_colours() -> None:
    im = Image.new("RGB", (400, 300), WHITE)
    ImageDraw.Draw(im).rectangle((0, 0, 199, 149), fill=RED)
    data = encode(im, "HEIF", quality=90)
    assert data[4:12] == b"ftypheic"
    result = process(data, max_pixels=DEFAULT_MAX_PIXELS)
    assert result.content_type == "image/heic"
    for variant in result.variants.values():
        assert (variant.width, variant.height) == (320, 240) or variant.width == 400
        assert is_red(pixel(variant.jpeg, (20, 20)))
        assert is_white(pixel(variant.jpeg, (variant.width - 20, variant.height - 20)))
        assert is_red(pixel(webp_of(variant), (20, 20)))
    assert_no_metadata(result)


def test_cmyk_jpeg_comes_out_rgb_with_the_right_colours() -> None:
    im = Image.new("CMYK", (200, 100), (0, 0, 0, 0))  # white paper
    ImageDraw.Draw(im).rectangle((0, 0, 99, 99), fill=(0, 255, 255, 0))  # magenta + yellow
    data = encode(im, "JPEG", quality=95)
    with Image.open(BytesIO(data)) as check:
        assert check.mode == "CMYK"
    result = process(data, max_pixels=DEFAULT_MAX_PIXELS)
    variant = result.variants["thumb"]
    with Image.open(BytesIO(variant.jpeg)) as out:
        assert out.mode == "RGB"
    assert is_red(pixel(variant.jpeg, (30, 50)))
    assert is_white(pixel(variant.jpeg, (170, 50)))
    assert is_red(pixel(webp_of(variant), (30, 50)))


def test_16_bit_grey_png_is_scaled_not_clipped() -> None:
    im = Image.new("I;16", (256, 64))
    draw = ImageDraw.Draw(im)
    draw.rectangle((0, 0, 127, 63), fill=65535)
    draw.rectangle((128, 0, 255, 63), fill=32768)
    data = encode(im, "PNG")
    with Image.open(BytesIO(data)) as check:
        assert check.mode == "I;16"
    variant = process(data, max_pixels=DEFAULT_MAX_PIXELS).variants["thumb"]
    assert near(pixel(variant.jpeg, (32, 32)), WHITE, 6)
    assert near(pixel(variant.jpeg, (224, 32)), (128, 128, 128), 6)


def test_16_bit_rgb_png_works() -> None:
    red16 = struct.pack(">HHH", 65535, 0, 0)
    rows = b"".join(b"\x00" + red16 * 32 for _ in range(16))
    data = png(32, 16, 16, 2, rows)
    result = process(data, max_pixels=DEFAULT_MAX_PIXELS)
    assert (result.width, result.height) == (32, 16)
    assert is_red(pixel(result.variants["thumb"].jpeg, (16, 8)))


def test_png_alpha_is_flattened_on_white() -> None:
    im = Image.new("RGBA", (200, 100), (0, 0, 0, 0))  # transparent black
    draw = ImageDraw.Draw(im)
    draw.rectangle((100, 0, 149, 99), fill=(0, 0, 255, 255))  # opaque blue
    draw.rectangle((150, 0, 199, 99), fill=(255, 0, 0, 128))  # half-transparent red
    result = process(encode(im, "PNG"), max_pixels=DEFAULT_MAX_PIXELS)
    variant = result.variants["thumb"]
    for blob in (variant.jpeg, webp_of(variant)):
        with Image.open(BytesIO(blob)) as out:
            assert out.mode == "RGB"
        assert is_white(pixel(blob, (40, 50)))
        assert near(pixel(blob, (125, 50)), BLUE, 25)
        assert near(pixel(blob, (175, 50)), (255, 127, 127), 25)


def test_palette_png_with_transparency_is_flattened_on_white() -> None:
    im = Image.new("P", (100, 50), 0)
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    ImageDraw.Draw(im).rectangle((50, 0, 99, 49), fill=1)
    data = encode(im, "PNG", transparency=0)
    variant = process(data, max_pixels=DEFAULT_MAX_PIXELS).variants["thumb"]
    assert is_white(pixel(variant.jpeg, (20, 25)))
    assert is_red(pixel(variant.jpeg, (80, 25)))


def _swapped_primaries_profile() -> bytes:
    """lcms's sRGB with the red and blue colorants swapped: stored red means blue."""
    icc = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    (count,) = struct.unpack(">I", icc[128:132])
    entries = {bytes(icc[132 + 12 * i : 136 + 12 * i]): 132 + 12 * i for i in range(count)}
    red, blue = entries[b"rXYZ"], entries[b"bXYZ"]
    icc[red + 4 : red + 12], icc[blue + 4 : blue + 12] = (
        icc[blue + 4 : blue + 12],
        icc[red + 4 : red + 12],
    )
    # Not named sRGB any more, so the pipeline cannot skip it as "already sRGB".
    return bytes(icc).replace("sRGB".encode("utf-16-be"), "sBGR".encode("utf-16-be"))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "HEIF"])
def test_embedded_icc_profile_is_applied_then_dropped(fmt: str) -> None:
    im = Image.new("RGB", (200, 100), RED)
    data = encode(im, fmt, quality=95, icc_profile=_swapped_primaries_profile())
    result = process(data, max_pixels=DEFAULT_MAX_PIXELS)
    variant = result.variants["thumb"]
    for blob in (variant.jpeg, webp_of(variant)):
        r, g, b = pixel(blob, (100, 50))
        assert b > 200 and r < 60, (r, g, b)
    assert_no_metadata(result)


def test_srgb_profile_keeps_colours() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode(Image.new("RGB", (100, 100), (200, 120, 40)), "PNG", icc_profile=srgb)
    variant = process(data, max_pixels=DEFAULT_MAX_PIXELS).variants["thumb"]
    assert near(pixel(variant.jpeg, (50, 50)), (200, 120, 40), 6)


# --- orientation --------------------------------------------------------------------------

# What to do to the displayed picture so that a viewer applying the tag shows it again.
INVERSE = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


@pytest.mark.parametrize("fmt", ["JPEG", "HEIF"])  # libheif turns the tag into irot/imir
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_puts_pixels_where_a_viewer_shows_them(orientation: int, fmt: str) -> None:
    shown = Image.new("RGB", (640, 400), WHITE)
    ImageDraw.Draw(shown).rectangle((0, 0, 159, 99), fill=RED)
    transpose = INVERSE[orientation]
    stored = shown if transpose is None else shown.transpose(transpose)
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    data = encode(stored, fmt, quality=92, exif=exif.tobytes())
    with Image.open(BytesIO(data)) as check:  # the fixture is what a viewer shows
        viewed = ImageOps.exif_transpose(check)
        assert viewed.size == (640, 400)
        assert is_red(viewed.getpixel((40, 25)))  # type: ignore[arg-type]

    result = process(data, max_pixels=DEFAULT_MAX_PIXELS)
    assert (result.width, result.height) == (640, 400)
    sizes = {name: (v.width, v.height) for name, v in result.variants.items()}
    assert sizes == {"thumb": (320, 200), "medium": (640, 400), "large": (640, 400)}
    for variant in result.variants.values():
        w, h = variant.width, variant.height
        for blob in (variant.jpeg, webp_of(variant)):
            assert is_red(pixel(blob, (w // 16, h // 16)))
            assert is_white(pixel(blob, (w - w // 16, h // 16)))
            assert is_white(pixel(blob, (w // 16, h - h // 16)))
            assert is_white(pixel(blob, (w - w // 16, h - h // 16)))


def test_corrupt_exif_does_not_fail_the_upload_or_warn() -> None:
    def entry(tag: int, kind: int, count: int, value: bytes) -> bytes:
        return struct.pack(">HHI", tag, kind, count) + value

    # Orientation 6, then a Make tag pointing far past the end: Pillow warns about it.
    tiff = (
        b"MM\x00\x2a\x00\x00\x00\x08\x00\x02"
        + entry(0x0112, 3, 1, b"\x00\x06\x00\x00")
        + entry(0x010F, 2, 1000, b"\x00\x00\x10\x00")
        + b"\x00\x00\x00\x00"
    )
    shown = Image.new("RGB", (64, 32), WHITE)
    ImageDraw.Draw(shown).rectangle((0, 0, 15, 7), fill=RED)
    stored = shown.transpose(Image.Transpose.ROTATE_90)
    data = encode(stored, "JPEG", quality=95, exif=b"Exif\x00\x00" + tiff)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = process(data, max_pixels=DEFAULT_MAX_PIXELS)
    assert not caught
    assert (result.width, result.height) == (64, 32)
    assert is_red(pixel(result.variants["thumb"].jpeg, (4, 2)))
    assert_no_metadata(result)


def test_big_rotated_camera_jpeg_is_drafted_and_rotated() -> None:
    shown = scene(3000, 4000)
    ImageDraw.Draw(shown).rectangle((0, 0, 749, 999), fill=RED)
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    data = encode(shown.transpose(Image.Transpose.ROTATE_90), "JPEG", exif=exif.tobytes())
    result = process(data, max_pixels=DEFAULT_MAX_PIXELS)
    assert (result.width, result.height) == (3000, 4000)
    sizes = {name: (v.width, v.height) for name, v in result.variants.items()}
    assert sizes == {"thumb": (240, 320), "medium": (720, 960), "large": (1440, 1920)}
    for variant in result.variants.values():
        assert is_red(pixel(variant.jpeg, (variant.width // 10, variant.height // 10)))


# --- metadata, sizes, hashes --------------------------------------------------------------


def test_gps_exif_xmp_comment_and_icc_are_all_stripped() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Phone"
    exif[ExifTags.Base.Orientation] = 1
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (27.0, 49.0, 30.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (113.0, 8.0, 0.0)
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode(
        scene(),
        "JPEG",
        exif=exif.tobytes(),
        xmp=xmp,
        icc_profile=srgb,
        comment=b"taken at home",
    )
    with Image.open(BytesIO(data)) as check:  # the fixture carries what we must strip
        assert check.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        assert "xmp" in check.info and "icc_profile" in check.info
    result = process(data, max_pixels=DEFAULT_MAX_PIXELS)
    assert_no_metadata(result)
    for variant in result.variants.values():
        assert b"taken at home" not in variant.jpeg
        assert b"Phone" not in variant.jpeg


def test_outputs_are_optimised_baseline_jpeg_and_lossy_webp() -> None:
    result = process(encode(scene(), "PNG"), max_pixels=DEFAULT_MAX_PIXELS)
    for variant in result.variants.values():
        markers = [marker for marker, _ in jpeg_segments(variant.jpeg)]
        assert 0xC0 in markers and 0xC2 not in markers  # baseline, one scan
        with Image.open(BytesIO(variant.jpeg)) as plain:
            unoptimised = encode(plain, "JPEG", quality=82, subsampling="4:2:0")
        assert len(variant.jpeg) < len(unoptimised)  # its own Huffman tables
        assert b"VP8 " in webp_chunks(webp_of(variant))
        with Image.open(BytesIO(webp_of(variant))) as out:
            assert out.size == (variant.width, variant.height)
    # Past 1 MP (the large size of a phone photo) the standard tables: cheaper to make.
    variants = process(encode(scene(1920, 1440), "JPEG")).variants
    standard = huffman_tables(encode(scene(seed=5), "JPEG", quality=82))
    assert huffman_tables(variants["large"].jpeg) == standard
    assert huffman_tables(variants["medium"].jpeg) != standard


def test_never_upscale() -> None:
    result = process(encode(scene(200, 100), "JPEG"), max_pixels=DEFAULT_MAX_PIXELS)
    for variant in result.variants.values():
        assert (variant.width, variant.height) == (200, 100)
        for blob in (variant.jpeg, webp_of(variant)):
            with Image.open(BytesIO(blob)) as out:
                assert out.size == (200, 100)


def test_longest_side_fits_each_size() -> None:
    data = encode(scene(2000, 1000), "JPEG")
    result = process(data, max_pixels=DEFAULT_MAX_PIXELS, sizes={"a": 1920, "b": 500, "c": 64})
    sizes = {name: (v.width, v.height) for name, v in result.variants.items()}
    assert sizes == {"a": (1920, 960), "b": (500, 250), "c": (64, 32)}


def test_lqip_is_a_small_jpeg_data_uri() -> None:
    noisy = Image.effect_noise((800, 600), 80).convert("RGB")
    for im in (scene(), noisy):
        lqip = process(encode(im, "PNG"), max_pixels=DEFAULT_MAX_PIXELS).lqip
        prefix = "data:image/jpeg;base64,"
        assert lqip.startswith(prefix)
        assert len(lqip) <= 1024
        with Image.open(BytesIO(base64.b64decode(lqip[len(prefix) :], validate=True))) as tiny:
            assert tiny.format == "JPEG"
            assert max(tiny.size) <= 32


def test_phash_survives_reencoding_and_tells_pictures_apart() -> None:
    one = scene(seed=1)
    high = process(encode(one, "JPEG", quality=95), max_pixels=DEFAULT_MAX_PIXELS)
    low = process(encode(one, "JPEG", quality=60), max_pixels=DEFAULT_MAX_PIXELS)
    small = process(
        encode(one.resize((320, 200)), "WEBP", quality=70), max_pixels=DEFAULT_MAX_PIXELS
    )
    other = process(encode(scene(seed=2), "JPEG", quality=95), max_pixels=DEFAULT_MAX_PIXELS)
    assert len(high.phash) == 16
    int(high.phash, 16)
    assert high.phash == low.phash
    assert bin(int(high.phash, 16) ^ int(small.phash, 16)).count("1") <= 4
    assert bin(int(high.phash, 16) ^ int(other.phash, 16)).count("1") >= 10


def test_dominant_colour_and_sha256() -> None:
    im = Image.new("RGB", (300, 200), (20, 60, 200))
    ImageDraw.Draw(im).rectangle((0, 0, 59, 39), fill=RED)
    data = encode(im, "PNG")
    result = process(data, max_pixels=DEFAULT_MAX_PIXELS)
    assert result.original_sha256 == hashlib.sha256(data).hexdigest()
    colour = result.dominant_color
    assert len(colour) == 7 and colour.startswith("#")
    rgb = (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16))
    assert near(rgb, (20, 60, 200), 10)


def test_results_and_errors_cross_a_process_pool() -> None:
    result = process(encode(scene(), "JPEG"), max_pixels=DEFAULT_MAX_PIXELS)
    assert pickle.loads(pickle.dumps(result)) == result  # noqa: S301 - our own bytes
    for exc_type in (ImageUnsupported, ImageTooLarge, ImageInvalid):
        copy = pickle.loads(pickle.dumps(exc_type("why")))  # noqa: S301
        assert type(copy) is exc_type
        assert str(copy) == "why"
    codes = {ImageUnsupported.code, ImageTooLarge.code, ImageInvalid.code}
    assert codes == {"image_unsupported", "image_too_large", "image_invalid"}


def test_sizes_must_be_positive() -> None:
    data = encode(scene(), "JPEG")
    with pytest.raises(ValueError, match="sizes"):
        process(data, max_pixels=DEFAULT_MAX_PIXELS, sizes={})
    with pytest.raises(ValueError, match="sizes"):
        process(data, max_pixels=DEFAULT_MAX_PIXELS, sizes={"zero": 0})


def test_webp_variants_are_made_from_the_jpegs_alone() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "Phone"
    source = scene(800, 400)
    ImageDraw.Draw(source).rectangle((0, 0, 99, 99), fill=RED)
    result = process(encode(source, "JPEG", quality=95, exif=exif.tobytes()))
    webps = webp_variants([v.jpeg for v in result.variants.values()])
    for variant, webp in zip(result.variants.values(), webps, strict=True):
        assert webp[:4] == b"RIFF" and webp[8:12] == b"WEBP"
        assert set(webp_chunks(webp)) <= {b"VP8 ", b"VP8L"}  # no EXIF, XMP or ICC chunk
        assert b"Phone" not in webp
        with Image.open(BytesIO(webp)) as out:
            assert out.size == (variant.width, variant.height) == (out.width, out.height)
            assert out.height > out.width  # oriented as shown, like its JPEG
        # The same picture as the JPEG it came from: the red corner is where it was.
        assert is_red(pixel(webp, (variant.width - 5, 5)))
        assert is_red(pixel(variant.jpeg, (variant.width - 5, 5)))


def test_webp_variants_open_stored_bytes_like_an_upload() -> None:
    jpeg = process(encode(scene(), "JPEG")).variants["thumb"].jpeg
    with pytest.raises(ImageInvalid):
        webp_variants([jpeg[: len(jpeg) // 2]])  # a variant cut short in storage
    with pytest.raises(ImageInvalid):
        webp_variants([encode(scene(), "PNG")])  # not one of our JPEGs
    with pytest.raises(ImageTooLarge):
        webp_variants([jpeg], max_pixels=100)
