"""Photos of street reports, processed in memory: no I/O, no database, no framework.

What ``process_photo`` does with the bytes a person sent, in order:

1. Size: past ``photo_max_bytes`` (10 MB by default) the photo is refused (413) before any
   decoding.
2. Type: sniffed from the first bytes (never the file name, never the declared type): JPEG, PNG,
   WebP, HEIC/HEIF (decoded by pillow-heif). Anything else, AVIF and GIF included: refused (415
   where the route maps ``UnsupportedFile``, 422 otherwise).
3. Bombs: the header's width × height is checked before the pixels are decoded (past
   ``photo_max_pixels``: 422); Pillow's own decompression-bomb guard is an error too.
4. Decoding: a truncated or corrupt file is refused (422) with a message a person can act on.
5. Orientation from EXIF applied, colours converted to sRGB when an ICC profile is present, then
   the pixels are copied into a new image and **re-encoded** (JPEG by default, or WebP; quality
   85; at most 2048 px on the long side). Nothing of the original file survives but its pixels:
   no EXIF (GPS included), no XMP, no ICC profile, no comment, no maker note.
6. A thumbnail (320 px on the long side by default) in the same format.

Settings (``GUICHET_PHOTO_*``, read once by ``photo_settings()``) are documented on
``PhotoSettings``.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Literal

from PIL import Image, ImageCms, ImageOps
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from channels.attachments.service import UnsupportedFile, jpeg_size, png_size
from services.kernel.errors import GuichetError, PayloadTooLarge, ValidationFailed

MiB = 1024 * 1024
JPEG = "image/jpeg"
PNG = "image/png"
WEBP = "image/webp"
HEIC = "image/heic"
ACCEPTED_LABELS = "JPEG, PNG, WebP ou HEIC"

_PILLOW_FORMAT = {JPEG: "JPEG", PNG: "PNG", WEBP: "WEBP", HEIC: "HEIF"}
_HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
)
"""ISO/IEC 23008-12 brands of HEVC-coded HEIF files (``mif1``/``msf1`` are generic: AVIF files
carry them too, so an ``avif`` brand anywhere in the list wins and the file is refused)."""


class PhotoSettings(BaseSettings):
    """Limits and output of report photos (environment ``GUICHET_PHOTO_*``)."""

    model_config = SettingsConfigDict(env_prefix="GUICHET_", extra="ignore", env_file=None)

    photo_max_bytes: int = Field(
        default=10 * MiB, ge=1024, description="Largest photo accepted, in bytes (413 past it)."
    )
    photo_max_pixels: int = Field(
        default=40_000_000,
        ge=1,
        description="Largest width × height accepted, read from the header before decoding (422).",
    )
    photo_max_count: int = Field(default=3, ge=1, le=10, description="Photos per report.")
    photo_max_side: int = Field(
        default=2048, ge=64, description="Long side of the stored photo, in pixels."
    )
    photo_thumb_side: int = Field(
        default=320, ge=16, description="Long side of the thumbnail, in pixels."
    )
    photo_quality: int = Field(default=85, ge=30, le=100, description="JPEG/WebP quality.")
    photo_format: Literal["jpeg", "webp"] = Field(
        default="jpeg",
        description="Format of the stored photo and thumbnail: jpeg (every client reads it; "
        "transparency flattened on white) or webp (smaller, keeps transparency).",
    )


@lru_cache
def photo_settings() -> PhotoSettings:
    return PhotoSettings()


# ----- errors ----------------------------------------------------------------------------------


class PhotoTypeRefused(UnsupportedFile):
    """Not a JPEG, PNG, WebP or HEIC image (415 where ``UnsupportedFile`` is mapped, else 422)."""

    code = "photo-type-refused"
    title = "Type de photo refusé"


class PhotoUnreadable(ValidationFailed):
    code = "photo-unreadable"
    title = "Photo illisible"


class PhotoBomb(ValidationFailed):
    code = "photo-too-many-pixels"
    title = "Photo trop grande"


class PhotoTooLarge(PayloadTooLarge):
    code = "photo-too-large"
    title = "Photo trop volumineuse"


class TooManyPhotos(GuichetError):
    """Not in the kernel's status table: shown as 400."""

    code = "too-many-photos"
    title = "Trop de photos"


def _field(index: int | None) -> str:
    return "photos" if index is None else f"photos[{index - 1}]"


def _which(index: int | None) -> str:
    return "la photo" if index is None else f"la photo n° {index}"


def _human(size: int) -> str:
    return f"{size / MiB:.0f} Mo" if size % MiB == 0 else f"{size / MiB:.1f} Mo"


def too_many_photos(count: int, limit: int) -> TooManyPhotos:
    return TooManyPhotos(
        f"Trop de photos : {limit} au plus par signalement ({count} reçues ou déjà jointes). "
        "Retirez-en avant d'envoyer.",
        extra={
            "max_photos": limit,
            "errors": [{"field": "photos", "message": f"{limit} au plus", "type": "too-many"}],
        },
    )


def too_large(size: int, limit: int, index: int | None = None) -> PhotoTooLarge:
    return PhotoTooLarge(
        f"Photo trop volumineuse : {_which(index)} pèse {_human(size)}, la limite est de "
        f"{_human(limit)}. Réduisez sa taille ou sa définition puis envoyez-la de nouveau.",
        extra={
            "max_bytes": limit,
            "errors": [{"field": _field(index), "message": "trop volumineuse", "type": "size"}],
        },
    )


def _unreadable(index: int | None) -> PhotoUnreadable:
    return PhotoUnreadable(
        f"Photo illisible : {_which(index)} est incomplète ou endommagée (envoi interrompu ?). "
        "Prenez-la de nouveau ou enregistrez-la depuis votre galerie, puis renvoyez-la.",
        errors=[{"field": _field(index), "message": "image illisible", "type": "unreadable"}],
    )


# ----- sniffing --------------------------------------------------------------------------------


def sniff_photo(head: bytes) -> str | None:
    """The photo's type from its first bytes (32 are enough), or None when not accepted."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[4:8] == b"ftyp" and len(head) >= 12:
        box_size = int.from_bytes(head[:4], "big")
        end = min(len(head), box_size) if box_size >= 16 else 12
        brands = {head[8:12]} | {head[i : i + 4] for i in range(16, end - 3, 4)}
        if brands & {b"avif", b"avis"}:
            return None
        if head[8:12] in _HEIF_BRANDS or brands & (_HEIF_BRANDS - {b"mif1", b"msf1"}):
            return HEIC
    return None


@cache
def _register_heif() -> None:
    """Teach Pillow HEIC/HEIF (pillow-heif). Once, on first use: nothing happens at import."""
    from pillow_heif import register_heif_opener

    register_heif_opener()


# ----- processing ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProcessedPhoto:
    """A photo ready to store: re-encoded, metadata-free, with its thumbnail."""

    data: bytes
    thumbnail: bytes
    media_type: str
    width: int
    height: int
    thumb_width: int
    thumb_height: int
    source_type: str
    """What the person sent (sniffed), for the record."""


def _to_srgb(im: Image.Image) -> Image.Image:
    """Colours as they were meant (a phone's Display P3 profile), then the profile is dropped."""
    icc = im.info.get("icc_profile")
    if not icc or im.mode not in ("RGB", "RGBA", "CMYK", "L"):
        return im
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        target = ImageCms.createProfile("sRGB")
        mode = "RGBA" if im.mode == "RGBA" else "RGB"
        converted = ImageCms.profileToProfile(im, source, target, outputMode=mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return im  # a broken profile: keep the pixels as they are
    return converted if converted is not None else im


def _has_alpha(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info


def _normalise(im: Image.Image, fmt: str) -> Image.Image:
    """RGB (or L), or RGBA for WebP with transparency; JPEG gets transparency on white."""
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        im = im.convert("I").point(lambda v: v / 256).convert("L")
    if _has_alpha(im):
        rgba = im.convert("RGBA")
        if fmt == "webp":
            return rgba
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    if im.mode in ("RGB", "L"):
        return im
    return im.convert("RGB")


def _encode(im: Image.Image, fmt: str, quality: int) -> bytes:
    out = io.BytesIO()
    if fmt == "webp":
        im.save(out, format="WEBP", quality=quality, method=4)
    else:
        im.save(out, format="JPEG", quality=quality, optimize=True, progressive=True)
    return out.getvalue()


def _png_complete(data: bytes) -> bool:
    """Every chunk whole (length, type, data, CRC) up to IEND. Pillow cannot be trusted to say
    so: ``ImageFile.LOAD_TRUNCATED_IMAGES`` is process-wide, and weasyprint sets it to True when
    it is imported (same process as the API under ``guichet run``)."""
    offset = 8
    while offset + 12 <= len(data):
        length = int.from_bytes(data[offset : offset + 4], "big")
        kind = data[offset + 4 : offset + 8]
        offset += 12 + length
        if offset > len(data):
            return False
        if kind == b"IEND":
            return True
    return False


def _webp_complete(data: bytes) -> bool:
    """The RIFF container's declared size is all there."""
    return len(data) >= 8 + int.from_bytes(data[4:8], "little")


def _bomb(width: int, height: int, settings: PhotoSettings, index: int | None) -> PhotoBomb:
    return PhotoBomb(
        f"Photo refusée : {_which(index)} annonce {width} × {height} pixels, au-delà du maximum "
        f"accepté ({settings.photo_max_pixels // 1_000_000} mégapixels). Réduisez sa définition "
        "avant de l'envoyer.",
        errors=[{"field": _field(index), "message": "trop de pixels", "type": "image-bomb"}],
    )


def _precheck(data: bytes, kind: str, settings: PhotoSettings, index: int | None) -> None:
    """What can be read without Pillow: the declared size (PNG, JPEG), whole containers."""
    size: tuple[int, int] | None = None
    if kind == PNG:
        size = png_size(data[:24])
        if not _png_complete(data):
            raise _unreadable(index)
    elif kind == JPEG:
        size = jpeg_size(io.BytesIO(data))
    elif kind == WEBP and not _webp_complete(data):
        raise _unreadable(index)
    if size is not None and size[0] * size[1] > settings.photo_max_pixels:
        raise _bomb(size[0], size[1], settings, index)


def _decode(data: bytes, kind: str, settings: PhotoSettings, index: int | None) -> Image.Image:
    """Open (header only), check the pixel count, then decode; oriented, sRGB, at most
    ``photo_max_side``."""
    if kind == HEIC:
        _register_heif()
    side = settings.photo_max_side
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data), formats=[_PILLOW_FORMAT[kind]]) as opened:
            width, height = opened.size
            if width <= 0 or height <= 0:
                raise _unreadable(index)
            if width * height > settings.photo_max_pixels:
                raise _bomb(width, height, settings, index)
            if kind == JPEG:
                # Let libjpeg decode at 1/2, 1/4 or 1/8 when that still gives ≥ the target.
                opened.draft(opened.mode, (side, side))
            opened.load()
            if getattr(opened, "_ended", False):
                # Pillow's JPEG reader invented the end marker (LOAD_TRUNCATED_IMAGES is on).
                raise _unreadable(index)
            try:
                im = ImageOps.exif_transpose(opened)
            except (ValueError, TypeError, KeyError, OSError, SyntaxError):
                im = opened.copy()  # unreadable EXIF: no orientation to apply
    im = _to_srgb(im)
    im.thumbnail((side, side), Image.Resampling.LANCZOS)
    return im


def process_photo(
    data: bytes, settings: PhotoSettings | None = None, *, index: int | None = None
) -> ProcessedPhoto:
    """Check and re-encode one photo (module docstring). ``index`` (1-based) names the photo in
    error messages. CPU-bound: call it in a thread (``asyncio.to_thread``)."""
    settings = settings or photo_settings()
    if len(data) > settings.photo_max_bytes:
        raise too_large(len(data), settings.photo_max_bytes, index)
    if not data:
        raise PhotoUnreadable(
            f"Photo vide : {_which(index)} ne contient rien. Choisissez-la de nouveau.",
            errors=[{"field": _field(index), "message": "fichier vide", "type": "empty"}],
        )
    kind = sniff_photo(data[:64])
    if kind is None:
        raise PhotoTypeRefused(
            f"Type de photo refusé : {_which(index)} n'est pas une image {ACCEPTED_LABELS} "
            "(le contenu du fichier est vérifié, pas son nom). Prenez une photo ou "
            "convertissez-la en JPEG.",
            errors=[{"field": _field(index), "message": "type non accepté", "type": "media-type"}],
        )
    _precheck(data, kind, settings, index)
    try:
        im = _decode(data, kind, settings, index)
    except GuichetError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PhotoBomb(
            f"Photo refusée : {_which(index)} se décompresse en un nombre de pixels anormal. "
            "Réduisez sa définition avant de l'envoyer.",
            errors=[{"field": _field(index), "message": "trop de pixels", "type": "image-bomb"}],
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError) as exc:
        # Pillow's ways of saying truncated, corrupt or unsupported variant of the format.
        raise _unreadable(index) from exc
    fmt = settings.photo_format
    # A new image holding only the pixels: no info dict, no EXIF/XMP/ICC/comment can follow.
    normal = _normalise(im, fmt)
    clean = Image.frombytes(normal.mode, normal.size, normal.tobytes())
    thumb = clean.copy()
    thumb.thumbnail(
        (settings.photo_thumb_side, settings.photo_thumb_side), Image.Resampling.LANCZOS
    )
    return ProcessedPhoto(
        data=_encode(clean, fmt, settings.photo_quality),
        thumbnail=_encode(thumb, fmt, settings.photo_quality),
        media_type=WEBP if fmt == "webp" else JPEG,
        width=clean.width,
        height=clean.height,
        thumb_width=thumb.width,
        thumb_height=thumb.height,
        source_type=kind,
    )
