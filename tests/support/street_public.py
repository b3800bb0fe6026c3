"""Test material for the street reports' public outputs: photos made in code (with the metadata a
phone would leave in them), and the personal data a reporter may give."""

from __future__ import annotations

import io
import random
import struct
import zlib

from PIL import Image, ImageCms

GPS_IFD = 0x8825
ORIENTATION = 0x0112
MAKE = 0x010F
SECRET_COMMENT = b"Photo prise par Camille Martin, 06 12 34 56 78"
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-'
    b'syntax-ns#"><rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude='
    b'"45,45.17N"/></rdf:RDF></x:xmpmeta>'
)


def phone_exif(*, orientation: int = 1) -> Image.Exif:
    """EXIF as a phone writes it: maker, orientation, and GPS position (Lyon, 45.7641 N 4.8357 E)."""
    exif = Image.Exif()
    exif[MAKE] = "Téléphone de Camille"
    exif[ORIENTATION] = orientation
    exif[GPS_IFD] = {
        1: "N",
        2: (45.0, 45.0, 50.76),
        3: "E",
        4: (4.0, 50.0, 8.52),
    }
    return exif


def _halves(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """Left half red, right half blue: orientation is visible in the pixels."""
    im = Image.new(mode, size, (0, 0, 255) if mode == "RGB" else (0, 0, 255, 255))
    im.paste((255, 0, 0) if mode == "RGB" else (255, 0, 0, 255), (0, 0, size[0] // 2, size[1]))
    return im


def jpeg_with_gps(size: tuple[int, int] = (400, 300), *, orientation: int = 1) -> bytes:
    """A JPEG carrying GPS EXIF, XMP, an ICC profile and a comment naming someone."""
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    _halves(size).save(
        out,
        format="JPEG",
        exif=phone_exif(orientation=orientation),
        icc_profile=icc,
        comment=SECRET_COMMENT,
        xmp=XMP,
        quality=90,
    )
    return out.getvalue()


def noisy_jpeg(size: tuple[int, int] = (640, 480)) -> bytes:
    """A JPEG whose entropy-coded data is large (random pixels): cutting it loses real data."""
    im = Image.frombytes("RGB", size, random.Random(1).randbytes(size[0] * size[1] * 3))
    out = io.BytesIO()
    im.save(out, format="JPEG", quality=95)
    return out.getvalue()


def png_with_alpha(size: tuple[int, int] = (300, 200)) -> bytes:
    """A PNG, fully transparent on its left half, with an EXIF chunk."""
    im = Image.new("RGBA", size, (0, 0, 255, 255))
    im.paste((255, 0, 0, 0), (0, 0, size[0] // 2, size[1]))
    out = io.BytesIO()
    im.save(out, format="PNG", exif=phone_exif())
    return out.getvalue()


def webp_with_gps(size: tuple[int, int] = (320, 240)) -> bytes:
    out = io.BytesIO()
    _halves(size).save(out, format="WEBP", exif=phone_exif(), xmp=XMP, quality=90)
    return out.getvalue()


def heic_with_gps(size: tuple[int, int] = (320, 240), *, orientation: int = 1) -> bytes:
    """A HEIC (HEVC) image as an iPhone sends it, with GPS EXIF, made with pillow-heif."""
    from pillow_heif import register_heif_opener

    register_heif_opener()
    out = io.BytesIO()
    _halves(size).save(out, format="HEIF", exif=phone_exif(orientation=orientation).tobytes())
    return out.getvalue()


def png_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A real 1-bit PNG of ``width`` × ``height`` black pixels (400 megapixels by default),
    compressed to a few dozen kilobytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    row = b"\x00" * (1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row * 100) for _ in range(height // 100))
    idat += packer.compress(row * (height % 100)) + packer.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def read_back(data: bytes) -> Image.Image:
    """Open a processed photo as any reader would."""
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


# ----- what a reporter may give, and no public output may show -----------------------------

PERSONAL = {
    "email": "camille.martin@example.org",
    "phone": "06 12 34 56 78",
    "name": "Camille Martin",
    "description": "Nid-de-poule devant chez moi, rappelez-moi au 06 12 34 56 78",
    "address": "12 rue des Lilas, chez Mme Martin",
}
