"""What a file is, decided from its first bytes (magic numbers), never from its name or the
Content-Type header a browser sent.

`sniff` recognises the formats the platform accepts somewhere and a few common ones it refuses
(GIF, QuickTime, Matroska), so that a refusal can name what it saw. Recognising a format here
checks only its signature; decoders check the rest.
"""

from dataclasses import dataclass
from typing import IO

# Enough for every signature below, including an EBML header with its DocType.
HEAD_BYTES = 4096


@dataclass(frozen=True, slots=True)
class FileType:
    content_type: str
    extension: str
    description: str


JPEG = FileType("image/jpeg", "jpg", "JPEG image")
PNG = FileType("image/png", "png", "PNG image")
WEBP = FileType("image/webp", "webp", "WebP image")
GIF = FileType("image/gif", "gif", "GIF image")
MP4 = FileType("video/mp4", "mp4", "MP4 video")
WEBM = FileType("video/webm", "webm", "WebM video")
QUICKTIME = FileType("video/quicktime", "mov", "QuickTime video")
MATROSKA = FileType("video/x-matroska", "mkv", "Matroska video")
PDF = FileType("application/pdf", "pdf", "PDF document")

# Major brands of the ISO base media file format that mean an MP4 video.
MP4_BRANDS = frozenset(
    {
        b"isom",
        b"iso2",
        b"iso3",
        b"iso4",
        b"iso5",
        b"iso6",
        b"iso7",
        b"iso8",
        b"iso9",
        b"mp41",
        b"mp42",
        b"mp71",
        b"avc1",
        b"dash",
        b"M4V ",
        b"M4VH",
        b"M4VP",
        b"MSNV",
    }
)
QUICKTIME_BRAND = b"qt  "

_EBML_MAGIC = b"\x1a\x45\xdf\xa3"
_EBML_DOCTYPE_ID = 0x4282


def read_head(file: IO[bytes], size: int = HEAD_BYTES) -> bytes:
    """The first `size` bytes of a seekable stream, which is left at its start."""
    file.seek(0)
    head = file.read(size)
    file.seek(0)
    return head


def sniff(head: bytes) -> FileType | None:
    """The type of a file from its first bytes (HEAD_BYTES of them are enough), or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if head.startswith(b"%PDF-") and head[5:6].isdigit():
        return PDF
    if head[4:8] == b"ftyp":
        return _sniff_iso_media(head)
    if head.startswith(_EBML_MAGIC):
        return _sniff_ebml(head)
    return None


def _sniff_iso_media(head: bytes) -> FileType | None:
    box_size = int.from_bytes(head[:4], "big")
    # An ftyp box holds the major brand, a minor version and whole compatible brands.
    if box_size < 16 or (box_size - 16) % 4 or len(head) < 12:
        return None
    major_brand = head[8:12]
    if major_brand in MP4_BRANDS:
        return MP4
    if major_brand == QUICKTIME_BRAND:
        return QUICKTIME
    return None


def _sniff_ebml(head: bytes) -> FileType | None:
    doctype = _ebml_doctype(head)
    if doctype == b"webm":
        return WEBM
    if doctype == b"matroska":
        return MATROSKA
    return None


def _read_vint(data: bytes, position: int, *, keep_marker: bool) -> tuple[int, int] | None:
    """An EBML variable-length integer at `position`: (value, position after it), or None."""
    if position >= len(data) or data[position] == 0:
        return None
    first = data[position]
    length = 8 - first.bit_length() + 1
    if position + length > len(data):
        return None
    value = first if keep_marker else first & (0xFF >> length)
    for byte in data[position + 1 : position + length]:
        value = (value << 8) | byte
    return value, position + length


def _ebml_doctype(head: bytes) -> bytes | None:
    header = _read_vint(head, len(_EBML_MAGIC), keep_marker=False)
    if header is None:
        return None
    header_size, position = header
    end = min(position + header_size, len(head))
    while position < end:
        element_id = _read_vint(head, position, keep_marker=True)
        if element_id is None:
            return None
        element, position = element_id
        element_size = _read_vint(head, position, keep_marker=False)
        if element_size is None:
            return None
        size, position = element_size
        if position + size > end:
            return None
        if element == _EBML_DOCTYPE_ID:
            return head[position : position + size].rstrip(b"\0")
        position += size
    return None
