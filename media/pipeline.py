"""The photo pipeline: pure, synchronous, bytes in and bytes out (no I/O, no event loop).

Meant to run in a process-pool worker (DESIGN.md, "Pillow off the loop"): every call
decodes untrusted bytes and burns CPU. Each worker is single-threaded, which matters
because ``warnings.catch_warnings`` (used to turn Pillow's decompression-bomb warning
into an error) swaps process-global state.

Decisions:

- **Formats** are sniffed from the bytes by Pillow itself (``Image.open(..., formats=
  ALLOWED)``): JPEG (MPO, a JPEG with extra pictures, counts as JPEG), PNG, WebP and
  HEIC/HEIF. Magic bytes are only consulted after Pillow refuses, to tell "not an
  allowed image" (``ImageUnsupported``) from "an allowed format, but broken"
  (``ImageInvalid``).
- **Pixels** are checked from the header before any decode. Our cap (``max_pixels``)
  is explicit; Pillow's own ``Image.MAX_IMAGE_PIXELS`` is left alone and, as a second
  line, its ``DecompressionBombWarning``/``Error`` also become ``ImageTooLarge``, so the
  effective cap is ``min(max_pixels, Image.MAX_IMAGE_PIXELS)`` (89 MP by default).
- **Truncation**: ``ImageFile.LOAD_TRUNCATED_IMAGES`` must stay False (checked on every
  call) and the whole image is decoded, so a cut-off file is ``ImageInvalid``.
- **Trailing bytes** after a complete image (a JPEG followed by HTML, a Motion Photo's
  MP4, a Samsung trailer) are accepted: only a full decode counts, and since every
  output is re-encoded from pixels the trailer never reaches storage or clients.
  Corrupt entropy data that libjpeg merely warns about cannot be detected here.
- **Alpha** is flattened onto white (the WebP is made from the JPEG, so it is too): the
  two are served under one URL by content negotiation, so they must look the same, and
  photos have no alpha.
- **JPEG**: baseline, quality 82, 4:2:0. Huffman tables are optimised for variants up
  to ``OPTIMIZE_MAX_PIXELS`` (1 MP: the thumb and medium sizes that lists show, the
  bytes served most): 7 % smaller files for 2.5x the encoder's time. Not for bigger
  ones (the large size, opened one at a time): there it would be a tenth of the
  upload's CPU for 7 % of a rarely fetched file. Not progressive any more: that cost
  2.4x the optimised baseline encode for 4 % smaller files, on the upload's critical
  path, and the LQIP placeholder already covers the wait while a photo loads.
- **Metadata**: outputs are encoded from bare pixels with an empty ``info``; no EXIF,
  GPS, XMP, comment or ICC profile is written (pixels are sRGB after conversion).
- **Perceptual hash**: a 64-bit dHash (difference hash), not a DCT pHash: grayscale,
  box-resize to 9x8, one bit per horizontal neighbour pair (left brighter than right),
  row-major, most significant bit first. Cheap, robust to re-encoding and resizing;
  compare with a Hamming distance (<= 6 out of 64 is "probably the same photo").
- **What the upload waits for**: ``process`` makes the JPEG variants and the hashes,
  what the answer and the first look at the photo need; the WebP variants are made
  later, by the job worker, from the stored JPEGs (``webp_variants``): no original
  (with its EXIF and GPS) is kept for them, and made from the q82 JPEG rather than the
  pixels a q80 WebP loses 0.7 dB more (36.4 against 37.1 dB PSNR on bench/media.py's
  photo). Until they exist the JPEG is served (handlers/media).
- **Speed**: big JPEGs decode at 1/2, 1/4 or 1/8 scale (``draft``) to just above the
  largest variant; the first resize happens in the stored orientation and colour space,
  so rotation and ICC conversion run on the smaller image; each smaller variant is
  resized from the previous one, with ``reducing_gap`` (a box reduction by an integer
  factor first, then the filter over the rest). The filter is BICUBIC, not LANCZOS: it
  costs 40 % less (the 1440 -> 960 step of a WeChat photo was a third of the upload's
  CPU) and the two results differ by less than the JPEG encoding changes either (52 dB
  PSNR between them, 38 dB from pixels to JPEG, on bench/media.py's photo). WebP uses
  ``method=0`` (fastest: 7-10 % larger files than the default 4, but ~4x faster).
- **Colour**: an embedded ICC profile is applied with LittleCMS (perceptual intent;
  transforms cached per profile), except when its description names sRGB, which is
  most uploads; a P3 photo costs ~50 ms more per 1920 px variant on this machine. A
  broken profile is ignored (pixels taken as sRGB), and so is HEIF ``nclx`` colour
  information without an ICC profile. CMYK without a profile uses Pillow's conversion.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from io import BytesIO
from types import MappingProxyType
from typing import Final

import pillow_heif
from PIL import ExifTags, Image, ImageCms, ImageFile, ImageFilter

pillow_heif.register_heif_opener()

ALLOWED: Final = ("JPEG", "PNG", "WEBP", "HEIF")
DEFAULT_MAX_PIXELS: Final = 40_000_000
DEFAULT_SIZES: Final[Mapping[str, int]] = MappingProxyType(
    {"thumb": 320, "medium": 960, "large": 1920}
)

JPEG_QUALITY: Final = 82
OPTIMIZE_MAX_PIXELS: Final = 1_000_000  # see "JPEG" above
WEBP_QUALITY: Final = 80
WEBP_METHOD: Final = 0
REDUCING_GAP: Final = 2.0
RESAMPLE: Final = Image.Resampling.BICUBIC  # see "Speed" above
LQIP_MAX_BYTES: Final = 1024
WHITE: Final = (255, 255, 255)

_SRGB: Final = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_CONTENT_TYPES: Final = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "HEIF": "image/heif",
}
_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
# Brands pillow-heif opens (as_plugin._is_supported_heif); AVIF is not allowed.
_HEIF_BRANDS: Final = (
    b"heic",
    b"heix",
    b"heim",
    b"heis",
    b"hevc",
    b"hevx",
    b"hevm",
    b"hevs",
    b"mif1",
    b"msf1",
)
# The table ImageOps.exif_transpose uses: what turns stored pixels into displayed ones.
_ORIENTATION: Final = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Errors Pillow (and pillow-heif) raise on corrupt input while opening or decoding.
_DECODE_ERRORS: Final = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    TypeError,
    KeyError,
    RuntimeError,
    struct.error,
)


class ImageError(Exception):
    """Base class of the pipeline's refusals; ``code`` is the API error code."""

    code = "image_error"


class ImageUnsupported(ImageError):
    """Not an image, or not one of the allowed formats."""

    code = "image_unsupported"


class ImageTooLarge(ImageError):
    """More pixels than allowed (decompression bombs included)."""

    code = "image_too_large"


class ImageInvalid(ImageError):
    """An allowed format, but truncated or corrupt."""

    code = "image_invalid"


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What the header says: format, MIME type and dimensions.

    Dimensions are as stored, before EXIF orientation (HEIF: as displayed, because
    libheif applies its rotation itself). ``process`` reports the oriented ones.
    """

    format: str
    content_type: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class Variant:
    """One output size, encoded as JPEG (its WebP: ``webp_variants``)."""

    name: str
    width: int
    height: int
    jpeg: bytes


@dataclass(frozen=True, slots=True)
class ProcessedImage:
    """Everything the store needs from one upload; ``width``/``height`` are as shown."""

    content_type: str
    width: int
    height: int
    original_sha256: str
    phash: str
    dominant_color: str
    lqip: str
    variants: dict[str, Variant]


def probe(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """Identify the image from its bytes and check its size without decoding it."""
    with _pillow_warnings(), _open(data, max_pixels) as im:
        return _info(im)


def process(
    data: bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    sizes: Mapping[str, int] = DEFAULT_SIZES,
) -> ProcessedImage:
    """Decode, orient, colour-manage and strip an upload into its JPEG variants and hashes."""
    if not sizes or min(sizes.values()) < 1:
        raise ValueError("sizes must name at least one positive size")
    order = sorted(sizes.items(), key=lambda item: item[1], reverse=True)
    with _pillow_warnings():
        im = _open(data, max_pixels)
        info = _info(im)
        if im.format in ("JPEG", "MPO") and max(im.size) > order[0][1]:
            im.draft("RGB", fit(im.size, order[0][1]))
        _decode(im)
        orientation = _orientation(im)
        source, icc = _working_mode(im)
        del im
        # The first resize runs before rotation and colour conversion: both are cheaper
        # on fewer pixels, and neither changes the longest side.
        current = _to_srgb(_resize(source, order[0][1]), icc)
        del source
        if orientation in _ORIENTATION:
            current = current.transpose(_ORIENTATION[orientation])
        current.info = {}

        variants: dict[str, Variant] = {}
        for name, size in order:
            current = _resize(current, size)
            variants[name] = Variant(name, current.width, current.height, encode_jpeg(current))

        rgb = current if current.mode == "RGB" else current.convert("RGB")
        phash, color, placeholder = dhash(rgb), dominant_color(rgb), lqip(rgb)

    width, height = info.width, info.height
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return ProcessedImage(
        content_type=info.content_type,
        width=width,
        height=height,
        original_sha256=hashlib.sha256(data).hexdigest(),
        phash=phash,
        dominant_color=color,
        lqip=placeholder,
        variants=variants,
    )


def dhash(im: Image.Image) -> str:
    """64-bit difference hash as 16 hex digits (see the module docstring)."""
    small = im.convert("L").resize((9, 8), Image.Resampling.BOX, reducing_gap=REDUCING_GAP)
    px = small.tobytes()
    bits = 0
    for y in range(8):
        for x in range(8):
            bits = (bits << 1) | (px[y * 9 + x] > px[y * 9 + x + 1])
    return f"{bits:016x}"


def dominant_color(im: Image.Image) -> str:
    """The most common colour of a 5-colour median-cut palette, as ``#rrggbb``."""
    small = im.convert("RGB")
    small.thumbnail((32, 32), Image.Resampling.BOX)
    quantized = small.quantize(colors=5, method=Image.Quantize.MEDIANCUT)
    counts = quantized.histogram()  # a "P" image: one count per palette index
    index = max(range(len(counts)), key=counts.__getitem__)
    r, g, b = (quantized.getpalette() or [0] * 768)[index * 3 : index * 3 + 3]
    return f"#{r:02x}{g:02x}{b:02x}"


def lqip(im: Image.Image) -> str:
    """A tiny blurred JPEG placeholder as a data URI of at most ``LQIP_MAX_BYTES``."""
    # JPEG, not WebP: a mini-program <image> on iOS shows WebP only when told to.
    uri = ""
    for side, quality in ((24, 50), (20, 40), (16, 35), (12, 30), (8, 20)):
        small = im.convert("RGB")
        small.thumbnail((side, side), Image.Resampling.BOX, reducing_gap=REDUCING_GAP)
        small = small.filter(ImageFilter.GaussianBlur(0.6))
        buf = BytesIO()
        small.save(buf, "JPEG", quality=quality, optimize=True, subsampling="4:2:0")
        uri = "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
        if len(uri) <= LQIP_MAX_BYTES:
            return uri
    raise AssertionError(f"LQIP of {len(uri)} bytes")  # pragma: no cover - 8 px always fits


def encode_jpeg(im: Image.Image) -> bytes:
    """Baseline, metadata-free JPEG; optimised Huffman tables up to 1 MP ("JPEG" above)."""
    buf = BytesIO()
    im.save(
        buf,
        "JPEG",
        quality=JPEG_QUALITY,
        optimize=im.width * im.height <= OPTIMIZE_MAX_PIXELS,
        subsampling="4:2:0",
    )
    return buf.getvalue()


def encode_webp(im: Image.Image) -> bytes:
    """Lossy, metadata-free WebP."""
    buf = BytesIO()
    im.save(buf, "WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD)
    return buf.getvalue()


def webp_variants(jpegs: Sequence[bytes], max_pixels: int = DEFAULT_MAX_PIXELS) -> list[bytes]:
    """The WebP of each of our JPEG variants (the job worker's half of ``process``).

    They come back from storage, so they are opened like any upload (JPEG only, the
    pixel cap, a full decode); their pixels are already oriented, sRGB and flat."""
    out: list[bytes] = []
    with _pillow_warnings():
        for data in jpegs:
            im = _open(data, max_pixels)
            if im.format != "JPEG":
                im.close()
                raise ImageInvalid(f"a stored variant is {im.format}, not JPEG")
            _decode(im)
            im.info = {}
            out.append(encode_webp(im))
    return out


def _open(data: bytes, max_pixels: int) -> ImageFile.ImageFile:
    if not data:
        raise ImageUnsupported("empty upload")
    _check_png_header(data, max_pixels)
    try:
        im = Image.open(BytesIO(data), formats=ALLOWED)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge(str(exc)) from None
    except _DECODE_ERRORS as exc:  # UnidentifiedImageError is an OSError
        if _looks_allowed(data):
            raise ImageInvalid(f"corrupt image header: {exc}") from None
        raise ImageUnsupported("not a JPEG, PNG, WebP or HEIF image") from None
    if not isinstance(im, ImageFile.ImageFile) or im.format not in _CONTENT_TYPES:
        im.close()  # pragma: no cover - formats= only yields the plugins above
        raise ImageUnsupported(f"format {im.format} is not allowed")
    width, height = im.size
    if width < 1 or height < 1:
        im.close()
        raise ImageInvalid("image has no pixels")
    if width * height > max_pixels:
        im.close()
        raise ImageTooLarge(f"{width}x{height} is more than {max_pixels} pixels")
    return im


@contextmanager
def _pillow_warnings() -> Iterator[None]:
    """Pillow's bomb warning becomes an error; its notes on corrupt metadata are dropped."""
    with warnings.catch_warnings():
        # UserWarning is what Pillow uses for "Tag data larger than file", "malformed
        # MPO file" and the like: metadata we drop anyway. Deprecations stay visible.
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def _check_png_header(data: bytes, max_pixels: int) -> None:
    # IHDR is always the first chunk: refuse a claimed bomb before Pillow reads on.
    if data[:8] == _PNG_SIGNATURE and data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        if width * height > max_pixels:
            raise ImageTooLarge(f"{width}x{height} is more than {max_pixels} pixels")


def _looks_allowed(data: bytes) -> bool:
    return (
        data[:3] == b"\xff\xd8\xff"
        or data[:8] == _PNG_SIGNATURE
        or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")
        or (data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS)
    )


def _info(im: ImageFile.ImageFile) -> ImageInfo:
    fmt = "JPEG" if im.format == "MPO" else str(im.format)
    content_type = _CONTENT_TYPES[fmt]
    if fmt == "HEIF":
        content_type = im.get_format_mimetype() or content_type
    return ImageInfo(fmt, content_type, im.width, im.height)


def _decode(im: ImageFile.ImageFile) -> None:
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES must stay False")
    try:
        im.load()
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(str(exc)) from None
    except MemoryError:
        raise ImageTooLarge("not enough memory to decode") from None
    except _DECODE_ERRORS as exc:
        raise ImageInvalid(f"truncated or corrupt image: {exc}") from None


def _orientation(im: Image.Image) -> int:
    try:  # Pillow parses EXIF lazily
        value = im.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:  # corrupt EXIF must not fail an upload: show it as stored
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _working_mode(im: Image.Image) -> tuple[Image.Image, bytes | None]:
    """L, RGB or CMYK with alpha flattened onto white, and the ICC profile still to apply."""
    icc = im.info.get("icc_profile")
    icc = icc if isinstance(icc, bytes) and icc else None
    mode = im.mode
    if mode.startswith("I") or mode == "F":
        # 16-bit (and 32-bit) grey: scale to 8 bits, Pillow's convert("L") would clip.
        return im.convert("I").point(lambda v: v * (1 / 256)).convert("L"), icc
    if mode == "P":
        mode = "RGBA" if "transparency" in im.info else "RGB"
        im = im.convert(mode)
    if mode in ("LA", "La", "PA", "RGBa", "RGBA"):
        # Colour first, then composite onto (sRGB) white; rare enough to do at full size.
        rgba = _to_srgb(im if mode == "RGBA" else im.convert("RGBA"), icc)
        flat = Image.new("RGB", rgba.size, WHITE)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat, None
    if mode in ("L", "RGB", "CMYK"):
        return im, icc
    if mode == "1":
        return im.convert("L"), None
    return im.convert("RGB"), None


def _to_srgb(im: Image.Image, icc: bytes | None) -> Image.Image:
    """Convert through the embedded ICC profile; CMYK without one is converted naively."""
    if icc and im.mode in ("L", "RGB", "RGBA", "CMYK"):
        out_mode = "RGBA" if im.mode == "RGBA" else "RGB"
        transform = _transform(icc, im.mode, out_mode)
        if transform is not None:
            converted = transform(im)
            if converted is not None:
                return converted
    if im.mode == "CMYK":
        return im.convert("RGB")
    return im


@lru_cache(maxsize=16)
def _transform(
    icc: bytes, in_mode: str, out_mode: str
) -> Callable[[Image.Image], Image.Image | None] | None:
    """A cached ICC-to-sRGB transform, or None when the profile is sRGB or unusable."""
    try:
        profile = ImageCms.ImageCmsProfile(BytesIO(icc))
        description = ImageCms.getProfileDescription(profile)
        if in_mode != "CMYK" and "srgb" in description.lower():
            return None
        transform = ImageCms.buildTransform(
            profile,
            _SRGB,
            in_mode,
            out_mode,
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None  # a broken or mismatched profile: treat the pixels as sRGB

    def apply(im: Image.Image) -> Image.Image | None:
        try:
            return ImageCms.applyTransform(im, transform)
        except (ImageCms.PyCMSError, ValueError):  # pragma: no cover - modes checked above
            return None

    return apply


def fit(size: tuple[int, int], longest: int) -> tuple[int, int]:
    """``size`` scaled so its longest side is ``longest``; never enlarged."""
    width, height = size
    if max(width, height) <= longest:
        return width, height
    if width >= height:
        return longest, max(1, math.floor(height * longest / width + 0.5))
    return max(1, math.floor(width * longest / height + 0.5)), longest


def _resize(im: Image.Image, longest: int) -> Image.Image:
    size = fit(im.size, longest)
    if size == im.size:
        return im  # never upscale; within size means re-encode only
    return im.resize(size, RESAMPLE, reducing_gap=REDUCING_GAP)
