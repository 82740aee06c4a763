"""Callers' photos (a rash, a wound): prove the upload is an image and re-encode it clean. Pure: bytes in, bytes out.

Why each step exists:

1. Size first (``max_bytes``, empty): nothing is parsed before we know the upload is of a sane size.
2. ``Image.open`` reads only the header. The claimed content type and file name are never looked at: the
   bytes alone decide. The format must be one we accept (JPEG, PNG, HEIC via pillow-heif, which reports
   "HEIF"), which keeps the rarely used, less hardened decoders (TIFF, PSD, ...) away from strangers' files.
3. Pixel count from the header, before any pixel data is decoded: a tiny PNG can claim 30000 x 30000 pixels
   and would need gigabytes once decoded (a decompression bomb). Pillow's own DecompressionBombError, and its
   DecompressionBombWarning turned into an error for the duration of the call, become the same refusal;
   ``Image.MAX_IMAGE_PIXELS`` is never changed.
4. ``verify()`` checks the structure (PNG checksums) on one open; it invalidates the image, so the bytes are
   opened again and fully decoded by ``load()``. A truncated or corrupt file fails there; truncated files are
   never padded into an image (``ImageFile.LOAD_TRUNCATED_IMAGES`` stays False, its default).
5. Several frames: an animated PNG (APNG) is refused ("animated"), since the nurse would see only one of its
   frames. A HEIC holding several images is accepted and its primary image used (pillow-heif opens the primary
   image; that is the photo the phone shows).
6. ``ImageOps.exif_transpose`` applies the EXIF orientation to the pixels, so nothing depends on metadata.
   An embedded ICC profile (an iPhone's Display P3, say) is converted to sRGB, then dropped: the stored JPEG
   has no profile and viewers assume sRGB. Transparency is flattened onto white; the result is RGB.
7. Downscaled to ``max_side`` (LANCZOS) and re-encoded as a fresh JPEG from the pixels alone, with no EXIF,
   XMP, ICC profile or comment: GPS position and camera make/model are gone, and anything hidden in or
   appended to the upload (a ZIP or HTML tail of a polyglot file) cannot survive, because only pixels are
   carried over. The thumbnail is made the same way.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field
from io import BytesIO

import pillow_heif
from PIL import Image, ImageCms, ImageFile, ImageOps

pillow_heif.register_heif_opener()

JPEG_QUALITY = 85
THUMB_QUALITY = 80
WHITE = (255, 255, 255)
#: How the accepted formats are named to the caller (Pillow says "HEIF" for the iPhone's HEIC).
_SHOWN_NAME = {"JPEG": "JPEG", "PNG": "PNG", "HEIF": "HEIC", "MPO": "JPEG"}
#: Formats whose several images are one photo (HEIC's primary image; MPO: a camera's JPEG with a depth map or
#: preview appended): the first/primary image is used, not refused as animated.
_STILL_WITH_EXTRAS = frozenset({"HEIF", "MPO"})


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 15 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_side: int = 2560
    thumb_side: int = 320
    formats: frozenset[str] = field(default=frozenset({"JPEG", "MPO", "PNG", "HEIF"}))

    def shown_formats(self) -> str:
        """The accepted formats as the caller knows them, e.g. "HEIC, JPEG, PNG"."""
        return ", ".join(sorted({_SHOWN_NAME.get(f, f) for f in self.formats}))


#: code -> (Swedish, English) messages for the caller's page; ``{formats}`` is filled in from the limits.
MESSAGES: dict[str, tuple[str, str]] = {
    "empty": ("Filen är tom. Välj bilden igen och skicka den.",
              "The file is empty. Choose the picture again and send it."),
    "too_large": ("Bilden är för stor. Skicka en mindre bild, till exempel ett vanligt foto från mobilen.",
                  "The picture is too large. Send a smaller picture, for example an ordinary phone photo."),
    "not_an_image": ("Filen är ingen bild vi kan läsa. Skicka ett foto i formatet {formats}.",
                     "The file is not a picture we can read. Send a photo in the format {formats}."),
    "unsupported_format": ("Vi tar bara emot bilder i formatet {formats}. Skicka ett foto från mobilens kamera.",
                           "We only accept pictures in the format {formats}. Send a photo from the phone's camera."),
    "truncated": ("Bilden verkar vara skadad eller inte helt uppladdad. Försök skicka den igen.",
                  "The picture seems damaged or was not completely uploaded. Try sending it again."),
    "too_many_pixels": ("Bilden har för hög upplösning. Skicka ett vanligt foto från mobilens kamera.",
                        "The picture's resolution is too high. Send an ordinary photo from the phone's camera."),
    "animated": ("Rörliga bilder tas inte emot. Skicka ett vanligt foto.",
                 "Moving pictures are not accepted. Send an ordinary photo."),
}


class ImageRejected(ValueError):
    """The upload is refused; ``code`` is stable, the messages are for the caller's page."""

    def __init__(self, code: str, limits: ImageLimits, detail: str = "") -> None:
        sv, en = MESSAGES[code]
        formats = limits.shown_formats()
        self.code = code
        self.message_sv = sv.format(formats=formats)
        self.message_en = en.format(formats=formats)
        super().__init__(f"{code}: {detail}" if detail else code)


@dataclass(frozen=True)
class CleanImage:
    data: bytes  # JPEG, RGB, no metadata
    thumbnail: bytes  # JPEG, longest side <= thumb_side
    width: int
    height: int
    source_format: str  # Pillow's name: "JPEG", "PNG", "HEIF"
    sha256: str  # hex digest of data


DEFAULT_LIMITS = ImageLimits()


def sanitize(raw: bytes, limits: ImageLimits = DEFAULT_LIMITS) -> CleanImage:
    """Decode the upload, refuse what is not a plain photo within the limits, and re-encode it clean."""
    if not raw:
        raise ImageRejected("empty", limits)
    if len(raw) > limits.max_bytes:
        raise ImageRejected("too_large", limits, f"{len(raw)} bytes")
    assert not ImageFile.LOAD_TRUNCATED_IMAGES, "truncated images must never be padded into pictures"
    with warnings.catch_warnings():
        # Not thread-safe (the filter list is global); the worst a race can do is leave this one
        # warning category as an error, which is only stricter.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            source_format = _check_header(raw, limits)
            img = _decode(raw, limits)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise ImageRejected("too_many_pixels", limits, str(e)) from e
    with img:
        rgb = _to_srgb(ImageOps.exif_transpose(img))
    rgb.thumbnail((limits.max_side, limits.max_side), Image.Resampling.LANCZOS)
    thumb = rgb.copy()
    thumb.thumbnail((limits.thumb_side, limits.thumb_side), Image.Resampling.LANCZOS)
    data = _jpeg(rgb, JPEG_QUALITY)
    return CleanImage(data=data, thumbnail=_jpeg(thumb, THUMB_QUALITY), width=rgb.width, height=rgb.height,
                      source_format=source_format, sha256=hashlib.sha256(data).hexdigest())


def _check_header(raw: bytes, limits: ImageLimits) -> str:
    """Format, pixel count and frames from the header, then ``verify()``; no pixel data is decoded."""
    try:
        probe = Image.open(BytesIO(raw))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise
    except Exception as e:  # UnidentifiedImageError: no decoder recognises the bytes
        raise ImageRejected("not_an_image", limits, repr(e)) from e
    with probe:
        fmt = probe.format or ""
        if fmt not in limits.formats:
            raise ImageRejected("unsupported_format", limits, fmt)
        width, height = probe.size
        if width * height > limits.max_pixels:
            raise ImageRejected("too_many_pixels", limits, f"{width}x{height}")
        frames = getattr(probe, "n_frames", 1)
        if frames > 1 and fmt not in _STILL_WITH_EXTRAS:  # see the module docstring
            raise ImageRejected("animated", limits, f"{fmt} with {frames} frames")
        try:
            probe.verify()
        except Exception as e:  # header readable but structure broken (bad checksum, cut short, ...)
            raise ImageRejected("truncated", limits, repr(e)) from e
    return fmt


def _decode(raw: bytes, limits: ImageLimits) -> Image.Image:
    """Open again (``verify()`` used the first one up) and decode every pixel."""
    img = Image.open(BytesIO(raw))
    try:
        img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        img.close()
        raise
    except Exception as e:  # OSError("image file is truncated"), decoder errors, ...
        img.close()
        raise ImageRejected("truncated", limits, repr(e)) from e
    return img


def _to_srgb(img: Image.Image) -> Image.Image:
    """RGB pixels in sRGB: the ICC profile applied (then dropped), transparency flattened onto white."""
    icc = img.info.get("icc_profile")
    if icc and img.mode in ("RGB", "RGBA", "CMYK"):
        try:
            converted = ImageCms.profileToProfile(
                img, ImageCms.ImageCmsProfile(BytesIO(icc)), ImageCms.createProfile("sRGB"),
                outputMode="RGBA" if img.mode == "RGBA" else "RGB")
            if converted is not None:
                img = converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile: keep the pixels as they are rather than refuse the photo
    if img.mode in ("P", "PA", "LA", "La", "RGBa") or "A" in img.mode or "transparency" in img.info:
        rgba = img.convert("RGBA")
        flat = Image.new("RGB", rgba.size, WHITE)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return img.convert("RGB")


def _jpeg(img: Image.Image, quality: int) -> bytes:
    """A JPEG from the pixels only: a fresh image so no EXIF, XMP, ICC or comment can ride along."""
    bare = Image.frombytes("RGB", img.size, img.tobytes())
    out = BytesIO()
    bare.save(out, format="JPEG", quality=quality, optimize=True, comment=b"")
    return out.getvalue()
