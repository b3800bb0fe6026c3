"""Report photos processed in memory: accepted types read from the bytes, limits, bombs, broken
files, orientation, and nothing of the original's metadata in what is kept (issue 6, item 4)."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageFile

from channels.attachments.service import UnsupportedFile
from channels.street._images import (
    HEIC,
    JPEG,
    PNG,
    WEBP,
    PhotoBomb,
    PhotoSettings,
    PhotoTooLarge,
    PhotoTypeRefused,
    PhotoUnreadable,
    TooManyPhotos,
    process_photo,
    sniff_photo,
)
from channels.street.photos import prepare_photos
from services.api.problems import status_of
from tests.support.street_public import (
    GPS_IFD,
    SECRET_COMMENT,
    heic_with_gps,
    jpeg_with_gps,
    noisy_jpeg,
    png_bomb,
    png_with_alpha,
    read_back,
    webp_with_gps,
)

pytestmark = pytest.mark.unit

SETTINGS = PhotoSettings()
WEBP_OUT = PhotoSettings(photo_format="webp")
MB = 1024 * 1024


def assert_no_metadata(data: bytes) -> None:
    """What any reader of the kept file would find: no EXIF (so no GPS), no XMP, no ICC
    profile, no comment — neither through Pillow nor in the raw bytes."""
    im = read_back(data)
    exif = im.getexif()
    assert dict(exif) == {}
    assert exif.get_ifd(GPS_IFD) == {}
    for key in ("exif", "xmp", "XML:com.adobe.xmp", "icc_profile", "comment"):
        assert key not in im.info, key
    assert b"Exif\x00\x00" not in data
    assert b"ICC_PROFILE" not in data
    assert b"adobe:ns:meta" not in data
    assert SECRET_COMMENT not in data
    assert b"Camille" not in data


def test_the_input_really_carries_gps() -> None:
    """The fixture is honest: the original photo has the position in its EXIF."""
    original = read_back(jpeg_with_gps())
    gps = original.getexif().get_ifd(GPS_IFD)
    assert gps[1] == "N" and gps[3] == "E"
    assert "icc_profile" in original.info


def test_jpeg_with_gps_exif_comes_out_without_any_metadata() -> None:
    processed = process_photo(jpeg_with_gps())
    assert processed.media_type == JPEG and processed.source_type == JPEG
    assert read_back(processed.data).format == "JPEG"
    assert_no_metadata(processed.data)
    assert_no_metadata(processed.thumbnail)


def test_exif_orientation_is_applied_then_dropped() -> None:
    """Orientation 6 (phone held upright): a 400×200 sensor image is shown 200×400, the left
    (red) half of the sensor at the top."""
    processed = process_photo(jpeg_with_gps((400, 200), orientation=6))
    im = read_back(processed.data).convert("RGB")
    assert (processed.width, processed.height) == im.size == (200, 400)
    top, bottom = im.getpixel((100, 20)), im.getpixel((100, 380))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[0] > 200 and top[2] < 60  # red
    assert bottom[2] > 200 and bottom[0] < 60  # blue
    assert_no_metadata(processed.data)


def test_big_photo_is_reduced_to_2048_on_its_long_side_with_a_320_thumbnail() -> None:
    processed = process_photo(jpeg_with_gps((3000, 1000)))
    assert (processed.width, processed.height) == (2048, 683)
    assert read_back(processed.data).size == (2048, 683)
    assert (processed.thumb_width, processed.thumb_height) == (320, 107)
    assert read_back(processed.thumbnail).size == (320, 107)


def test_small_photo_is_not_enlarged() -> None:
    processed = process_photo(jpeg_with_gps((120, 90)))
    assert (processed.width, processed.height) == (120, 90)


def test_png_with_alpha_is_flattened_on_white_in_jpeg() -> None:
    processed = process_photo(png_with_alpha())
    assert processed.source_type == PNG and processed.media_type == JPEG
    im = read_back(processed.data).convert("RGB")
    transparent, opaque = im.getpixel((10, 10)), im.getpixel((290, 10))
    assert isinstance(transparent, tuple) and isinstance(opaque, tuple)
    assert min(transparent) > 240  # white, not black
    assert opaque[2] > 200 and opaque[0] < 60
    assert_no_metadata(processed.data)


def test_png_with_alpha_keeps_its_transparency_in_webp() -> None:
    processed = process_photo(png_with_alpha(), WEBP_OUT)
    assert processed.media_type == WEBP
    im = read_back(processed.data)
    assert im.format == "WEBP" and im.mode == "RGBA"
    pixel = im.getpixel((10, 10))
    assert isinstance(pixel, tuple) and pixel[3] == 0
    assert_no_metadata(processed.data)


def test_webp_with_gps_is_accepted_and_stripped() -> None:
    original = read_back(webp_with_gps())
    assert original.getexif().get_ifd(GPS_IFD)  # the input has a position
    processed = process_photo(webp_with_gps())
    assert processed.source_type == WEBP
    assert_no_metadata(processed.data)


def test_heic_from_a_phone_is_decoded_oriented_and_stripped() -> None:
    data = heic_with_gps((320, 240), orientation=6)
    assert sniff_photo(data[:64]) == HEIC
    processed = process_photo(data)
    assert processed.source_type == HEIC and processed.media_type == JPEG
    assert (processed.width, processed.height) == (240, 320)
    assert_no_metadata(processed.data)


def test_text_file_named_photo_jpg_is_refused_as_415() -> None:
    """The name and the declared type are never looked at: only the bytes."""
    with pytest.raises(PhotoTypeRefused) as refused:
        process_photo(b"Ceci n'est pas une photo, juste du texte.\n", index=1)
    assert isinstance(refused.value, UnsupportedFile)  # 415 where that class is mapped
    assert status_of(refused.value) == 422  # and a 4xx anywhere else
    assert "JPEG, PNG, WebP ou HEIC" in refused.value.detail
    assert refused.value.errors[0]["field"] == "photos[0]"


@pytest.mark.parametrize(
    "data",
    [
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00",
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf",
        b"MZ\x90\x00",
        b"\x00" * 64,
        "📷 photo.jpg".encode(),
    ],
    ids=["gif", "pdf", "svg", "avif", "exe", "zeros", "emoji"],
)
def test_other_types_are_refused(data: bytes) -> None:
    with pytest.raises(PhotoTypeRefused):
        process_photo(data)


def test_empty_file_is_refused() -> None:
    with pytest.raises(PhotoUnreadable, match="vide"):
        process_photo(b"")


def test_50_mb_photo_is_413_before_any_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_decoding(*args: object, **kwargs: object) -> Image.Image:
        raise AssertionError("decoded although too large")

    monkeypatch.setattr(Image, "open", no_decoding)
    data = b"\xff\xd8\xff\xe0" + b"\x00" * (50 * MB)
    with pytest.raises(PhotoTooLarge) as too_large:
        process_photo(data, index=2)
    assert status_of(too_large.value) == 413
    assert "10 Mo" in too_large.value.detail and "photo n° 2" in too_large.value.detail


def test_size_limit_is_configurable() -> None:
    data = jpeg_with_gps()
    with pytest.raises(PhotoTooLarge):
        process_photo(data, PhotoSettings(photo_max_bytes=len(data) - 1))
    assert process_photo(data, PhotoSettings(photo_max_bytes=len(data))).width == 400


@pytest.mark.parametrize("pillow_lenient", [False, True], ids=["pillow-strict", "pillow-lenient"])
def test_truncated_jpeg_is_refused_as_unreadable(
    pillow_lenient: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Also when Pillow was told to accept truncated files process-wide (weasyprint does it)."""
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", pillow_lenient)
    data = noisy_jpeg()
    assert process_photo(data).width == 640  # whole, it is fine
    with pytest.raises(PhotoUnreadable) as broken:
        process_photo(data[: len(data) // 2])
    assert status_of(broken.value) == 422
    assert "incomplète" in broken.value.detail


@pytest.mark.parametrize("pillow_lenient", [False, True], ids=["pillow-strict", "pillow-lenient"])
def test_truncated_png_webp_and_heic_are_refused(
    pillow_lenient: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", pillow_lenient)
    for data in (png_with_alpha(), webp_with_gps(), heic_with_gps()):
        assert process_photo(data).width > 0
        for cut in (len(data) // 2, len(data) - 5):
            with pytest.raises(PhotoUnreadable):
                process_photo(data[:cut])


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xd8\xff" + b"\x00" * 200,
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 100,
        b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\xff" * 50,
        b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64,
    ],
    ids=["jpeg", "png", "webp", "heic"],
)
def test_right_magic_wrong_body_is_unreadable_not_500(data: bytes) -> None:
    with pytest.raises(PhotoUnreadable):
        process_photo(data)


def test_pixel_bomb_is_refused_from_its_header() -> None:
    """20000 × 20000 pixels in a few dozen kilobytes: refused (422) without decoding."""
    bomb = png_bomb()
    assert len(bomb) < 200_000
    with pytest.raises(PhotoBomb) as refused:
        process_photo(bomb, index=3)
    assert status_of(refused.value) == 422
    assert "20000 × 20000" in refused.value.detail


def test_pillow_bomb_guard_is_an_error_too() -> None:
    """Even with our own limit set absurdly high, Pillow's DecompressionBombError is a 422."""
    with pytest.raises(PhotoBomb):
        process_photo(png_bomb(), PhotoSettings(photo_max_pixels=10**12))


def test_16_bit_and_palette_images_are_converted() -> None:
    out = io.BytesIO()
    Image.new("I;16", (64, 64), 40_000).save(out, format="PNG")
    grey = read_back(process_photo(out.getvalue()).data)
    pixel = grey.getpixel((5, 5))
    assert pixel == 156 or (isinstance(pixel, tuple) and pixel[0] in range(150, 162))
    palette = Image.new("P", (64, 64), 0)
    palette.putpalette([0, 0, 0, 255, 0, 0])
    palette.paste(1, (32, 0, 64, 64))
    out = io.BytesIO()
    palette.save(out, format="PNG", transparency=0)  # index 0 (black) transparent
    flat = read_back(process_photo(out.getvalue()).data).convert("RGB")
    left, right = flat.getpixel((5, 5)), flat.getpixel((60, 5))
    assert isinstance(left, tuple) and isinstance(right, tuple)
    assert min(left) > 240  # transparent: white
    assert right[0] > 200 and right[1] < 60  # red
    out = io.BytesIO()
    Image.new("CMYK", (64, 64), (0, 255, 255, 0)).save(out, format="JPEG")
    red = read_back(process_photo(out.getvalue()).data)
    assert red.mode == "RGB"


async def test_a_fourth_photo_is_400_naming_the_limit() -> None:
    photo = jpeg_with_gps((40, 30))
    with pytest.raises(TooManyPhotos) as refused:
        await prepare_photos([photo] * 4)
    assert status_of(refused.value) == 400
    assert "3 au plus" in refused.value.detail
    assert refused.value.extra["max_photos"] == 3
    with pytest.raises(TooManyPhotos):
        await prepare_photos([photo], already=3)
    assert len(await prepare_photos([photo] * 3)) == 3


async def test_sizes_are_checked_before_any_photo_is_decoded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A good first photo and a 50 MB second one: refused at once, the first not even decoded."""

    def no_decoding(*args: object, **kwargs: object) -> Image.Image:
        raise AssertionError("decoded although the batch is refused")

    good = jpeg_with_gps((40, 30))
    monkeypatch.setattr(Image, "open", no_decoding)
    with pytest.raises(PhotoTooLarge, match="photo n° 2"):
        await prepare_photos([good, b"\xff\xd8\xff" + b"\x00" * (50 * MB)])
