"""Checks and re-encodes uploaded images (avatars, logos, use-case pictures).

Pure functions over bytes: callers read the upload, store what comes back, and run the
re-encoding in a worker.
"""

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from io import BytesIO
from typing import IO

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from p2p_sandbox.errors import AppError

IMAGE_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
DEFAULT_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000

RENDITION_QUALITY = 85
DAMAGED_MESSAGE = "The image file is damaged or incomplete."
ANIMATED_MESSAGE = "Animated images are not supported."

# What Pillow raises on malformed input besides its own classes.
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    TypeError,
    IndexError,
    KeyError,
    EOFError,
    struct.error,
)
_LARGEST_SIDE = {"JPEG": 65_535, "PNG": 2**31 - 1, "WEBP": 16_383}
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


class InvalidImageError(AppError):
    code = "invalid_image"
    status = HTTPStatus.BAD_REQUEST
    message = "The file is not a JPEG, PNG or WebP image."


class ImageTooLargeError(AppError):
    code = "file_too_large"
    status = HTTPStatus.CONTENT_TOO_LARGE
    message = "The image is larger than 5 MB."

    def __init__(self, message: str | None = None, *, max_bytes: int | None = None) -> None:
        if message is None and max_bytes is not None:
            message = f"The image is larger than {_describe_size(max_bytes)}."
        super().__init__(message)
        self.max_bytes = max_bytes


def _too_many_pixels_message(max_pixels: int) -> str:
    return f"The image has too many pixels: at most {max_pixels:,} are allowed."


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """width and height are as stored, before any EXIF orientation is applied."""

    format: str
    content_type: str
    width: int
    height: int
    size_bytes: int


def inspect_image(
    file: IO[bytes] | bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> ImageInfo:
    """Check an upload by its content; a stream is read from its current position.

    Reads at most max_bytes + 1 bytes and leaves the stream wherever that stopped.
    """
    data = file if isinstance(file, bytes) else _read_at_most(file, max_bytes + 1)
    if len(data) > max_bytes:
        raise ImageTooLargeError(max_bytes=max_bytes)
    with _open_checked(data, max_pixels=max_pixels) as image:
        image_format = _canonical_format(image)
        width, height = image.size
    return ImageInfo(
        format=image_format,
        content_type=IMAGE_FORMATS[image_format],
        width=width,
        height=height,
        size_bytes=len(data),
    )


def reencode_image(
    data: bytes,
    *,
    max_side: int,
    format: str = "WEBP",
    quality: int = 85,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> bytes:
    """Return the image upright, in sRGB, fitted within max_side, with no metadata at all.

    Applies the same content checks as inspect_image, but no byte limit: the data was
    accepted at upload time.
    """
    output_format = _check_output(format, max_side=max_side, quality=quality)
    image = _prepare(data, max_pixels=max_pixels)
    return _encode(image, max_side=max_side, output_format=output_format, quality=quality)


def make_renditions(
    data: bytes, sizes: Mapping[str, int], *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> dict[str, bytes]:
    """Return WebP bytes per name, e.g. {"thumb": 320, "large": 1280}; decodes the data once."""
    for max_side in sizes.values():
        _check_output("WEBP", max_side=max_side, quality=RENDITION_QUALITY)
    image = _prepare(data, max_pixels=max_pixels)
    return {
        name: _encode(image, max_side=max_side, output_format="WEBP", quality=RENDITION_QUALITY)
        for name, max_side in sizes.items()
    }


def _read_at_most(file: IO[bytes], limit: int) -> bytes:
    chunks: list[bytes] = []
    remaining = limit
    while remaining > 0:
        chunk = file.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _describe_size(size_bytes: int) -> str:
    for unit, factor in (("MB", 1024 * 1024), ("KB", 1024)):
        if size_bytes >= factor:
            return f"{round(size_bytes / factor, 1):g} {unit}"
    return f"{size_bytes} bytes"


def _canonical_format(image: Image.Image) -> str:
    # Phones write JPEGs with a second picture (a depth or HDR gain map) that Pillow opens as
    # MPO; the first picture is an ordinary JPEG.
    return "JPEG" if image.format == "MPO" else str(image.format)


def _check_header(image: Image.Image, max_pixels: int) -> None:
    width, height = image.size
    if width * height > max_pixels:
        raise InvalidImageError(_too_many_pixels_message(max_pixels))
    if _canonical_format(image) not in IMAGE_FORMATS:
        raise InvalidImageError
    if image.format != "MPO" and getattr(image, "n_frames", 1) > 1:
        raise InvalidImageError(ANIMATED_MESSAGE)


def _open_checked(data: bytes, *, max_pixels: int) -> Image.Image:
    """Return the decoded image; the size is checked before anything is decoded."""
    formats = tuple(IMAGE_FORMATS)
    try:
        with Image.open(BytesIO(data), formats=formats) as probe:
            _check_header(probe, max_pixels)
            probe.verify()
        image = Image.open(BytesIO(data), formats=formats)
        _check_header(image, max_pixels)
        image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        # The warning arrives as an exception only where warnings are turned into errors;
        # otherwise _check_header refuses the same image right after Image.open.
        raise InvalidImageError(_too_many_pixels_message(max_pixels)) from error
    except UnidentifiedImageError as error:
        raise InvalidImageError from error
    except _DECODE_ERRORS as error:
        raise InvalidImageError(DAMAGED_MESSAGE) from error
    return image


def _prepare(data: bytes, *, max_pixels: int) -> Image.Image:
    """Return the image upright, as sRGB RGB or RGBA, with an empty info dict."""
    image = _open_checked(data, max_pixels=max_pixels)
    try:
        ImageOps.exif_transpose(image, in_place=True)
    except _DECODE_ERRORS as error:
        raise InvalidImageError(DAMAGED_MESSAGE) from error
    image = _to_srgb(image)
    image.info = {}
    return image


def _to_srgb(image: Image.Image) -> Image.Image:
    icc_profile = image.info.get("icc_profile")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # Converting straight to L clips 16-bit samples to white.
        image = image.convert("I").point(lambda value: value / 256).convert("L")
    if image.mode not in ("RGB", "RGBA", "CMYK"):
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    if icc_profile:
        image = _convert_profile(image, icc_profile)
    if image.mode == "CMYK":
        image = image.convert("RGB")
    if image.mode == "RGBA" and image.getchannel("A").getextrema() == (255, 255):
        image = image.convert("RGB")
    return image


def _convert_profile(image: Image.Image, icc_profile: bytes) -> Image.Image:
    output_mode = "RGBA" if image.mode == "RGBA" else "RGB"
    try:
        source = ImageCms.ImageCmsProfile(BytesIO(icc_profile))
        converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode=output_mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        # A broken profile, or one that does not fit the pixels: keep the colours as they are.
        return image
    return image if converted is None else converted


def _check_output(format: str, *, max_side: int, quality: int) -> str:
    output_format = format.upper()
    if output_format not in IMAGE_FORMATS:
        raise ValueError(f"Cannot encode {format!r}; use one of {sorted(IMAGE_FORMATS)}.")
    if not 1 <= max_side <= _LARGEST_SIDE[output_format]:
        raise ValueError(
            f"max_side must be 1 to {_LARGEST_SIDE[output_format]} for {output_format}."
        )
    if not 1 <= quality <= 100:
        raise ValueError("quality must be 1 to 100.")
    return output_format


def _fit(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    width, height = size
    longest = max(width, height)
    if longest <= max_side:
        return size
    scale = max_side / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def _encode(image: Image.Image, *, max_side: int, output_format: str, quality: int) -> bytes:
    size = _fit(image.size, max_side)
    if size != image.size:
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    if output_format == "JPEG" and image.mode == "RGBA":
        # Dropping the alpha channel would show whatever colour hides under transparent pixels.
        background = Image.new("RGB", image.size, "white")
        background.paste(image, mask=image.getchannel("A"))
        image = background
    output = BytesIO()
    if output_format == "PNG":
        image.save(output, "PNG", optimize=False)
    else:
        image.save(output, output_format, quality=quality)
    return output.getvalue()
