"""Callers' photos: only real JPEG/PNG/HEIC images within the limits get through, re-encoded without metadata."""

from __future__ import annotations

import hashlib
import struct
import time
import warnings
import zipfile
import zlib
from io import BytesIO

import pillow_heif
import pytest
from PIL import ExifTags, Image, ImageCms, ImageFile

from webrtc.images import DEFAULT_LIMITS, CleanImage, ImageLimits, ImageRejected, sanitize

pillow_heif.register_heif_opener()

MAKE = "AcmeCamCorp"
MODEL = "Snapper-9000"


def _noise(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """Random-looking pixels, so that encoded files are large enough to cut in half meaningfully."""
    return Image.frombytes(mode, size, bytes((i * 7919 + i // 3) % 251 for i in range(size[0] * size[1] * len(mode))))


def _encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    buf = BytesIO()
    img.save(buf, format=fmt, **params)
    return buf.getvalue()


def _jpeg(size: tuple[int, int] = (80, 60), color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    return _encode(Image.new("RGB", size, color), "JPEG")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _bomb_png(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height grey pixels but carries only a few bytes of pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _png_chunk(b"IEND", b""))


def _rejected(raw: bytes, limits: ImageLimits = DEFAULT_LIMITS) -> ImageRejected:
    with pytest.raises(ImageRejected) as info:
        sanitize(raw, limits)
    return info.value


def test_exif_orientation_applied_and_gps_and_camera_tags_dropped() -> None:
    """A rotated phone JPEG comes out upright with no EXIF at all: no GPS position, no camera make or model."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = MAKE
    exif[ExifTags.Base.Model] = MODEL
    exif[ExifTags.Base.Orientation] = 6  # stored sideways: rotate 90 degrees clockwise to display
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (59.0, 19.0, 30.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (18.0, 4.0, 7.0)
    raw = _encode(_noise((200, 100)), "JPEG", exif=exif)
    with Image.open(BytesIO(raw)) as before:
        assert before.getexif().get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] == "N"
    assert MAKE.encode() in raw and b"Exif" in raw

    clean = sanitize(raw)

    with Image.open(BytesIO(clean.data)) as after:
        assert dict(after.getexif()) == {}
        assert "icc_profile" not in after.info and "comment" not in after.info
    assert MAKE.encode() not in clean.data and MODEL.encode() not in clean.data and b"Exif" not in clean.data
    assert (clean.width, clean.height) == (100, 200)
    assert clean.source_format == "JPEG"


def test_png_transparency_flattened_and_text_chunk_dropped() -> None:
    """A transparent PNG with an Author text chunk becomes an RGB JPEG on white, without the text."""
    from PIL import PngImagePlugin

    img = Image.new("RGBA", (40, 30), (0, 0, 255, 0))
    img.paste((0, 0, 255, 255), (0, 0, 20, 30))
    meta = PngImagePlugin.PngInfo()
    meta.add_text("Author", "Karin Secretsson")
    raw = _encode(img, "PNG", pnginfo=meta)
    assert b"Karin Secretsson" in raw

    clean = sanitize(raw)

    assert b"Karin Secretsson" not in clean.data and b"Author" not in clean.data
    with Image.open(BytesIO(clean.data)) as out:
        assert out.format == "JPEG" and out.mode == "RGB"
        r, g, b = out.getpixel((35, 15))  # type: ignore[misc]
        assert min(r, g, b) > 240  # the transparent half is white, not black
        r, g, b = out.getpixel((5, 15))  # type: ignore[misc]
        assert b > 200 and r < 40
    assert clean.source_format == "PNG"


def test_heic_is_accepted_as_heif() -> None:
    """An iPhone-style HEIC photo is decoded and stored as JPEG; pillow-heif names the format HEIF."""
    raw = pillow_heif.from_pillow(Image.new("RGB", (64, 48), (10, 200, 10)))
    buf = BytesIO()
    raw.save(buf, quality=90)

    clean = sanitize(buf.getvalue())

    assert clean.source_format == "HEIF"
    assert (clean.width, clean.height) == (64, 48)
    with Image.open(BytesIO(clean.data)) as out:
        assert out.format == "JPEG"


def test_multi_image_heic_uses_the_primary_image() -> None:
    """A HEIC holding two images is accepted and its primary image (here the second one) is what is stored."""
    first, primary = Image.new("RGB", (64, 48), (255, 0, 0)), Image.new("RGB", (32, 32), (0, 0, 255))
    raw = _encode(first, "HEIF", save_all=True, append_images=[primary], primary_index=1)
    with Image.open(BytesIO(raw)) as check:
        assert getattr(check, "n_frames", 1) == 2

    clean = sanitize(raw)

    assert (clean.width, clean.height) == (32, 32)


def test_animated_png_is_refused() -> None:
    """An APNG with two frames is refused as animated: the nurse would only ever see one frame."""
    raw = _encode(Image.new("RGB", (20, 20), "red"), "PNG", save_all=True,
                  append_images=[Image.new("RGB", (20, 20), "blue")])
    assert _rejected(raw).code == "animated"


def test_truncated_jpeg_is_refused() -> None:
    """A JPEG cut in half (an interrupted upload) is refused, never padded out into a picture."""
    raw = _encode(_noise((300, 200)), "JPEG", quality=95)
    error = _rejected(raw[: len(raw) // 2])
    assert error.code == "truncated"
    assert "skadad" in error.message_sv
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_truncated_png_is_refused() -> None:
    """A PNG cut short fails the structure check and is refused as truncated."""
    raw = _encode(_noise((200, 200)), "PNG")
    assert _rejected(raw[: len(raw) * 2 // 3]).code == "truncated"


def test_text_file_named_jpg_is_not_an_image() -> None:
    """Bytes that no decoder recognises are refused, whatever name or type the upload claimed."""
    error = _rejected(b"hello, this is not a picture at all\n" * 10)
    assert error.code == "not_an_image"
    assert error.message_sv == "Filen är ingen bild vi kan läsa. Skicka ett foto i formatet HEIC, JPEG, PNG."
    assert "HEIC, JPEG, PNG" in error.message_en


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_other_image_formats_are_unsupported(fmt: str) -> None:
    """Real images in formats we do not take (GIF, BMP, TIFF) are refused, naming JPEG, PNG and HEIC."""
    error = _rejected(_encode(Image.new("RGB", (10, 10), "red"), fmt))
    assert error.code == "unsupported_format"
    for name in ("JPEG", "PNG", "HEIC"):
        assert name in error.message_sv and name in error.message_en
    assert "HEIF" not in error.message_sv


def test_jpeg_with_zip_appended_comes_out_without_it() -> None:
    """A JPEG/ZIP polyglot is accepted as the picture it shows, and the ZIP does not survive re-encoding."""
    archive = BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("payload.exe", b"MZ evil payload")
    raw = _jpeg() + archive.getvalue()
    assert zipfile.is_zipfile(BytesIO(raw))

    clean = sanitize(raw)

    assert b"PK\x03\x04" not in clean.data and b"payload" not in clean.data
    assert not zipfile.is_zipfile(BytesIO(clean.data))


def test_jpeg_with_html_appended_comes_out_without_it() -> None:
    """HTML appended to a JPEG (a browser-sniffing polyglot) is gone from the stored image and thumbnail."""
    raw = _jpeg() + b"<html><script>alert(document.cookie)</script></html>"

    clean = sanitize(raw)

    for out in (clean.data, clean.thumbnail):
        assert b"<script" not in out and b"<html" not in out


def test_jpeg_comment_is_dropped() -> None:
    """A JPEG COM marker (free text) is not carried into the stored image."""
    raw = _encode(Image.new("RGB", (30, 30), "red"), "JPEG", comment=b"<script>x</script>")
    clean = sanitize(raw)
    assert b"<script" not in clean.data
    with Image.open(BytesIO(clean.data)) as out:
        assert "comment" not in out.info


def test_icc_profile_is_applied_then_dropped() -> None:
    """An embedded ICC profile is converted away: the stored JPEG carries none."""
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    raw = _encode(Image.new("RGB", (30, 30), "red"), "JPEG", icc_profile=icc)
    clean = sanitize(raw)
    with Image.open(BytesIO(clean.data)) as out:
        assert "icc_profile" not in out.info


def test_too_many_bytes_and_empty_are_refused() -> None:
    """Uploads above max_bytes are refused before any parsing; an empty upload has its own code."""
    raw = _jpeg()
    assert _rejected(raw, ImageLimits(max_bytes=len(raw) - 1)).code == "too_large"
    assert sanitize(raw, ImageLimits(max_bytes=len(raw))).source_format == "JPEG"
    assert _rejected(b"").code == "empty"


@pytest.mark.parametrize("side", [4000, 30000])
def test_pixel_flood_refused_from_the_header(side: int) -> None:
    """A tiny PNG claiming millions of pixels is refused from its header; decoding it would fail as truncated."""
    raw = _bomb_png(side, side)
    assert len(raw) < 200
    started = time.monotonic()
    error = _rejected(raw, ImageLimits(max_pixels=10_000_000))
    assert error.code == "too_many_pixels"
    assert time.monotonic() - started < 1.0


def test_pillow_bomb_warning_becomes_a_refusal_without_touching_global_state() -> None:
    """With generous limits, Pillow's own DecompressionBombWarning is turned into a refusal, locally only."""
    before_max, before_filters = Image.MAX_IMAGE_PIXELS, list(warnings.filters)
    assert Image.MAX_IMAGE_PIXELS is not None
    side = int((Image.MAX_IMAGE_PIXELS * 1.5) ** 0.5)  # above the warning, below Pillow's error
    error = _rejected(_bomb_png(side, side), ImageLimits(max_pixels=10**10))
    assert error.code == "too_many_pixels"
    assert Image.MAX_IMAGE_PIXELS == before_max and warnings.filters == before_filters


def test_downscaled_to_max_side_with_thumbnail_and_hash() -> None:
    """The stored image's longest side is at most max_side, the thumbnail's at most thumb_side; sha256 is of data."""
    clean = sanitize(_jpeg((3000, 1000)))
    assert (clean.width, clean.height) == (2560, 853)
    with Image.open(BytesIO(clean.data)) as out:
        assert out.size == (2560, 853)
    with Image.open(BytesIO(clean.thumbnail)) as thumb:
        assert thumb.format == "JPEG" and max(thumb.size) == 320
    assert clean.sha256 == hashlib.sha256(clean.data).hexdigest()

    small = sanitize(_jpeg((50, 40)), ImageLimits(max_side=25, thumb_side=10))
    assert isinstance(small, CleanImage)
    assert (small.width, small.height) == (25, 20)
    with Image.open(BytesIO(small.thumbnail)) as thumb:
        assert thumb.size == (10, 8)


def test_small_images_are_not_upscaled() -> None:
    """An image already within max_side keeps its size (and the thumbnail is never larger than the image)."""
    clean = sanitize(_jpeg((120, 90)))
    assert (clean.width, clean.height) == (120, 90)
    with Image.open(BytesIO(clean.thumbnail)) as thumb:
        assert thumb.size == (120, 90)


def test_a_camera_jpeg_with_an_extra_image_mpo_is_taken_as_its_first_image() -> None:
    """Some phones save a JPEG with a depth map or preview appended (Pillow: MPO): the photo is accepted and
    its first image stored; the caller is never told that a camera photo is the wrong format."""
    first, second = Image.new("RGB", (90, 60), (10, 200, 10)), Image.new("RGB", (30, 20), (0, 0, 0))
    buf = BytesIO()
    first.save(buf, format="MPO", save_all=True, append_images=[second])
    assert Image.open(BytesIO(buf.getvalue())).format == "MPO"
    clean = sanitize(buf.getvalue())
    assert (clean.width, clean.height, clean.source_format) == (90, 60, "MPO")
    assert Image.open(BytesIO(clean.data)).getpixel((45, 30))[1] > 150
