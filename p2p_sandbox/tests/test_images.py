import random
import re
import struct
import warnings
import zlib
from collections.abc import Callable
from io import BytesIO
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import ExifTags, Image, ImageCms

from p2p_sandbox.images import (
    IMAGE_FORMATS,
    ImageInfo,
    ImageTooLargeError,
    InvalidImageError,
    inspect_image,
    make_renditions,
    reencode_image,
)

NOT_AN_IMAGE = "The file is not a JPEG, PNG or WebP image."
DAMAGED = "The image file is damaged or incomplete."
ANIMATED = "Animated images are not supported."
TOO_MANY_PIXELS = "The image has too many pixels: at most 40,000,000 are allowed."
RED = (255, 0, 0)
BLUE = (0, 0, 255)


def encode(image: Image.Image, image_format: str, **options: Any) -> bytes:
    output = BytesIO()
    image.save(output, image_format, **options)
    return output.getvalue()


def noise(size: tuple[int, int], seed: int = 1) -> Image.Image:
    width, height = size
    return Image.frombytes("RGB", size, random.Random(seed).randbytes(width * height * 3))


def one_bit_png(width: int, height: int, *, idat: bytes | None = None) -> bytes:
    """A valid all-black 1-bit PNG; a huge canvas compresses to a few KB."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        checksum = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", checksum)

    if idat is None:
        compressor = zlib.compressobj(9)
        row = bytes(1 + (width + 7) // 8)
        idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def container_parts(data: bytes) -> list[str]:
    """Chunk names of a WebP or PNG file, or marker names of a JPEG up to its image data."""
    if data.startswith(b"RIFF"):
        parts, offset = [], 12
        while offset < len(data):
            kind, length = struct.unpack("<4sI", data[offset : offset + 8])
            parts.append(kind.decode())
            offset += 8 + length + length % 2
        return parts
    if data.startswith(b"\x89PNG"):
        parts, offset = [], 8
        while offset < len(data):
            length, kind = struct.unpack(">I4s", data[offset : offset + 8])
            parts.append(kind.decode())
            offset += 12 + length
        return parts
    parts, offset = [], 2
    while data[offset + 1] != 0xDA:
        marker, length = data[offset + 1], struct.unpack(">H", data[offset + 2 : offset + 4])[0]
        parts.append(f"APP{marker - 0xE0}" if 0xE0 <= marker <= 0xEF else hex(marker))
        offset += 2 + length
    return parts


def is_close(pixel: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 6) -> bool:
    return len(pixel) == len(expected) and all(
        abs(actual - wanted) <= tolerance for actual, wanted in zip(pixel, expected, strict=True)
    )


class CountingStream:
    def __init__(self, data: bytes | None = None) -> None:
        self.source = BytesIO(data) if data is not None else None
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        # Without data the stream never ends, like an upload nobody bounded.
        chunk = self.source.read(size) if self.source is not None else bytes(min(size, 65536))
        self.bytes_read += len(chunk)
        return chunk


def open_output(data: bytes) -> Image.Image:
    image = Image.open(BytesIO(data))
    image.load()
    return image


# inspect_image: accepted


@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "WEBP"])
def test_inspect_image_accepts_each_format_with_its_info(image_format: str) -> None:
    data = encode(noise((40, 30)), image_format)

    info = inspect_image(BytesIO(data))

    assert info == ImageInfo(
        format=image_format,
        content_type=IMAGE_FORMATS[image_format],
        width=40,
        height=30,
        size_bytes=len(data),
    )


def test_inspect_image_accepts_bytes() -> None:
    data = encode(noise((8, 6)), "PNG")

    info = inspect_image(data)

    assert (info.format, info.width, info.height, info.size_bytes) == ("PNG", 8, 6, len(data))


def test_inspect_image_accepts_a_phone_jpeg_with_a_second_picture_as_jpeg() -> None:
    data = encode(noise((20, 10)), "MPO", save_all=True, append_images=[Image.new("RGB", (5, 5))])

    info = inspect_image(data)

    assert (info.format, info.content_type, info.width, info.height) == (
        "JPEG",
        "image/jpeg",
        20,
        10,
    )


def test_inspect_image_info_is_frozen() -> None:
    info = inspect_image(encode(noise((4, 4)), "PNG"))

    with pytest.raises(AttributeError):
        info.width = 1  # type: ignore[misc]


# inspect_image: refused by content


def gif() -> bytes:
    return encode(Image.new("P", (10, 10)), "GIF")


def pdf() -> bytes:
    return b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n"


def svg() -> bytes:
    return b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'


def text() -> bytes:
    return b"Not a photo, just text in a file called photo.jpg\n"


@pytest.mark.parametrize("make_data", [gif, pdf, svg, text, bytes], ids=lambda f: f.__name__)
def test_inspect_image_refuses_files_that_are_not_jpeg_png_or_webp(
    make_data: Callable[[], bytes],
) -> None:
    upload = SimpleUploadedFile("photo.jpg", make_data(), content_type="image/jpeg")

    with pytest.raises(InvalidImageError) as raised:
        inspect_image(upload)

    assert raised.value.message == NOT_AN_IMAGE
    assert raised.value.code == "invalid_image"
    assert raised.value.status == 400


@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "WEBP"])
def test_inspect_image_refuses_a_truncated_image(image_format: str) -> None:
    data = encode(noise((64, 64)), image_format)

    with pytest.raises(InvalidImageError) as raised:
        inspect_image(data[: len(data) // 2])

    assert raised.value.message == DAMAGED


def test_inspect_image_refuses_an_animated_webp() -> None:
    frames = [Image.new("RGB", (10, 10), RED), Image.new("RGB", (10, 10), BLUE)]
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100)

    with pytest.raises(InvalidImageError) as raised:
        inspect_image(data)

    assert raised.value.message == ANIMATED


def test_inspect_image_refuses_an_animated_png() -> None:
    frames = [Image.new("RGB", (10, 10), RED), Image.new("RGB", (10, 10), BLUE)]
    data = encode(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=100)

    with pytest.raises(InvalidImageError) as raised:
        inspect_image(data)

    assert raised.value.message == ANIMATED


# inspect_image: size limits


def test_inspect_image_refuses_a_stream_over_the_limit_after_reading_one_byte_more() -> None:
    stream = CountingStream(encode(noise((100, 100)), "PNG"))

    with pytest.raises(ImageTooLargeError) as raised:
        inspect_image(stream, max_bytes=1024)  # type: ignore[arg-type]

    assert stream.bytes_read == 1025
    assert raised.value.message == "The image is larger than 1 KB."
    assert raised.value.code == "file_too_large"
    assert raised.value.status == 413


def test_inspect_image_stops_reading_an_endless_stream_at_the_default_limit() -> None:
    stream = CountingStream()

    with pytest.raises(ImageTooLargeError) as raised:
        inspect_image(stream)  # type: ignore[arg-type]

    assert stream.bytes_read == 5 * 1024 * 1024 + 1
    assert raised.value.message == "The image is larger than 5 MB."


def test_inspect_image_accepts_exactly_max_bytes_and_refuses_one_more() -> None:
    data = encode(noise((30, 30)), "PNG")

    info = inspect_image(data, max_bytes=len(data))

    assert info.size_bytes == len(data)
    with pytest.raises(ImageTooLargeError):
        inspect_image(data, max_bytes=len(data) - 1)


def test_image_too_large_error_formats_the_limit() -> None:
    assert ImageTooLargeError().message == "The image is larger than 5 MB."
    assert ImageTooLargeError(max_bytes=1536 * 1024).message == "The image is larger than 1.5 MB."
    assert ImageTooLargeError(max_bytes=500).message == "The image is larger than 500 bytes."


def test_inspect_image_refuses_a_decompression_bomb_over_pillows_own_limit() -> None:
    data = one_bit_png(20_000, 20_000)

    with pytest.raises(InvalidImageError) as raised:
        inspect_image(data)

    assert len(data) < 60_000
    assert raised.value.message == TOO_MANY_PIXELS


def test_inspect_image_refuses_a_bomb_even_when_pillows_warning_is_ignored() -> None:
    data = one_bit_png(10_000, 10_000)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with pytest.raises(InvalidImageError) as raised:
            inspect_image(data)

    assert raised.value.message == TOO_MANY_PIXELS


def test_inspect_image_checks_pixels_before_decoding_anything() -> None:
    data = one_bit_png(8_000, 6_000, idat=b"not zlib data")

    with pytest.raises(InvalidImageError) as raised:
        inspect_image(data)

    assert raised.value.message == TOO_MANY_PIXELS


def test_inspect_image_allows_exactly_max_pixels() -> None:
    data = encode(noise((100, 100)), "PNG")

    info = inspect_image(data, max_pixels=10_000)

    assert (info.width, info.height) == (100, 100)
    with pytest.raises(InvalidImageError) as raised:
        inspect_image(data, max_pixels=9_999)
    assert raised.value.message == "The image has too many pixels: at most 9,999 are allowed."


# reencode_image


def photo_with_metadata() -> bytes:
    """60x40 stored, left half red; orientation 6 shows it as 40x60 with red on top."""
    image = Image.new("RGB", (60, 40), BLUE)
    image.paste(RED, (0, 0, 30, 40))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "PhoneMaker"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (48.0, 51.0, 30.0)
    icc_profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><exif:GPSLatitude>48,51N</exif:GPSLatitude>'
    return encode(image, "JPEG", quality=95, exif=exif, xmp=xmp, icc_profile=icc_profile)


def test_photo_with_metadata_carries_gps_exif_xmp_and_icc() -> None:
    source = open_output(photo_with_metadata())

    assert source.getexif().get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] == "N"
    assert {"exif", "xmp", "icc_profile"} <= source.info.keys()


@pytest.mark.parametrize(
    ("image_format", "expected_parts"),
    [
        ("WEBP", ["VP8 "]),
        ("PNG", ["IHDR", "IDAT", "IEND"]),
        ("JPEG", ["APP0", "0xdb", "0xdb", "0xc0", "0xc4", "0xc4", "0xc4", "0xc4"]),
    ],
)
def test_reencode_image_strips_all_metadata_and_applies_orientation(
    image_format: str, expected_parts: list[str]
) -> None:
    output = reencode_image(photo_with_metadata(), max_side=1280, format=image_format)

    image = open_output(output)
    assert container_parts(output) == expected_parts
    assert dict(image.getexif()) == {}
    assert b"GPS" not in output
    assert b"PhoneMaker" not in output
    assert image.format == image_format
    assert image.size == (40, 60)
    assert is_close(image.getpixel((20, 5)), RED)
    assert is_close(image.getpixel((20, 55)), BLUE)


@pytest.mark.parametrize(
    "make_source",
    [
        lambda: Image.new("RGBA", (20, 10), (0, 0, 0, 0)),
        lambda: Image.new("LA", (20, 10), (0, 0)),
        lambda: Image.new("P", (20, 10), 0),
    ],
    ids=["RGBA", "LA", "P"],
)
def test_reencode_image_keeps_transparency_in_webp_and_png(
    make_source: Callable[[], Image.Image],
) -> None:
    source = make_source()
    if source.mode == "P":
        source.putpalette([0, 0, 0, 255, 0, 0])
        source.info["transparency"] = 0
        source.paste(1, (10, 0, 20, 10))
    else:
        source.paste({"RGBA": (*RED, 255), "LA": (255, 255)}[source.mode], (10, 0, 20, 10))
    data = encode(source, "PNG")

    for image_format in ("WEBP", "PNG"):
        image = open_output(reencode_image(data, max_side=100, format=image_format))

        assert image.mode == "RGBA"
        assert image.getpixel((2, 5))[3] == 0
        assert image.getpixel((17, 5))[3] == 255


def test_reencode_image_flattens_transparency_onto_white_for_jpeg() -> None:
    source = Image.new("RGBA", (20, 10), (0, 0, 0, 0))
    source.paste((*RED, 255), (10, 0, 20, 10))

    image = open_output(reencode_image(encode(source, "PNG"), max_side=100, format="JPEG"))

    assert image.mode == "RGB"
    assert is_close(image.getpixel((2, 5)), (255, 255, 255))
    assert is_close(image.getpixel((17, 5)), RED)


def test_reencode_image_drops_an_alpha_channel_that_is_fully_opaque() -> None:
    data = encode(Image.new("RGBA", (10, 10), (*RED, 255)), "PNG")

    output = reencode_image(data, max_side=100)

    assert container_parts(output) == ["VP8 "]
    assert open_output(output).mode == "RGB"


def test_reencode_image_converts_cmyk_to_rgb() -> None:
    data = encode(Image.new("CMYK", (8, 8), (255, 0, 0, 0)), "JPEG", quality=95)

    image = open_output(reencode_image(data, max_side=100, format="PNG"))

    assert image.mode == "RGB"
    assert is_close(image.getpixel((4, 4)), (0, 255, 255))


def test_reencode_image_scales_16_bit_grey_instead_of_clipping_it() -> None:
    data = encode(Image.new("I;16", (4, 4), 32768), "PNG")

    image = open_output(reencode_image(data, max_side=100, format="PNG"))

    assert image.getpixel((0, 0)) == (128, 128, 128)


@pytest.mark.parametrize(
    ("size", "expected"),
    [((4000, 3000), (1280, 960)), ((3000, 4000), (960, 1280)), ((1280, 50), (1280, 50))],
)
def test_reencode_image_fits_the_longer_side(
    size: tuple[int, int], expected: tuple[int, int]
) -> None:
    data = encode(Image.new("RGB", size, RED), "JPEG")

    image = open_output(reencode_image(data, max_side=1280))

    assert image.format == "WEBP"
    assert image.size == expected


def test_reencode_image_never_upscales() -> None:
    data = encode(noise((200, 100)), "PNG")

    image = open_output(reencode_image(data, max_side=1280))

    assert image.size == (200, 100)


def test_reencode_image_runs_the_same_checks_as_inspect_image() -> None:
    with pytest.raises(InvalidImageError) as not_an_image:
        reencode_image(gif(), max_side=100)
    with pytest.raises(InvalidImageError) as bomb:
        reencode_image(encode(noise((100, 100)), "PNG"), max_side=100, max_pixels=9_999)

    assert not_an_image.value.message == NOT_AN_IMAGE
    assert bomb.value.message == "The image has too many pixels: at most 9,999 are allowed."


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"format": "GIF", "max_side": 100}, "Cannot encode 'GIF'; use one of"),
        ({"max_side": 0}, "max_side must be 1 to 16383 for WEBP."),
        ({"format": "webp", "max_side": 16_384}, "max_side must be 1 to 16383 for WEBP."),
        ({"max_side": 100, "quality": 0}, "quality must be 1 to 100."),
    ],
)
def test_reencode_image_refuses_impossible_output_options(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        reencode_image(encode(noise((4, 4)), "PNG"), **options)


def test_reencode_image_accepts_a_lowercase_format() -> None:
    image = open_output(reencode_image(encode(noise((4, 4)), "PNG"), max_side=10, format="jpeg"))

    assert image.format == "JPEG"


# make_renditions


def test_make_renditions_produces_each_requested_size_as_webp() -> None:
    data = encode(Image.new("RGB", (4000, 3000), BLUE), "JPEG")

    renditions = make_renditions(data, {"thumb": 320, "large": 1280})

    assert list(renditions) == ["thumb", "large"]
    thumb, large = open_output(renditions["thumb"]), open_output(renditions["large"])
    assert (thumb.format, thumb.size) == ("WEBP", (320, 240))
    assert (large.format, large.size) == ("WEBP", (1280, 960))


def test_make_renditions_strips_metadata_and_applies_orientation() -> None:
    renditions = make_renditions(photo_with_metadata(), {"thumb": 30, "large": 1280})

    assert {name: open_output(data).size for name, data in renditions.items()} == {
        "thumb": (20, 30),
        "large": (40, 60),
    }
    assert [container_parts(data) for data in renditions.values()] == [["VP8 "], ["VP8 "]]


def test_make_renditions_refuses_an_invalid_image() -> None:
    with pytest.raises(InvalidImageError) as raised:
        make_renditions(text(), {"thumb": 320})

    assert raised.value.message == NOT_AN_IMAGE
