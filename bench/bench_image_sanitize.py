"""The photo sanitizer (webrtc/images.py) on phone-sized photos: time per photo and the peak memory of the
process, against the peer — the least any re-encoding must do (open, decode, save as JPEG, no checks).

What the ratio says: the price of the safety steps (header checks, verify() and a second full decode, EXIF
rotation, colour conversion, downscaling, the thumbnail) over a bare re-encode of the same bytes.

Each case runs in a fresh child process, so its peak resident memory (VmHWM) is its own and no
allocator state carries over. Progress on stderr, figures on stdout.

    .venv/bin/python bench/bench_image_sanitize.py [--runs 8]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import time
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _rig  # noqa: E402
import pillow_heif  # noqa: E402
from PIL import ExifTags, Image  # noqa: E402

from webrtc.images import ImageLimits, sanitize  # noqa: E402

pillow_heif.register_heif_opener()


def photo(width: int, height: int, fmt: str) -> bytes:
    """A photo-like picture: smooth gradients with fine noise (compresses like a camera photo, unlike pure
    noise or flat colour), with the EXIF a phone writes (camera, GPS, orientation)."""
    gradient = Image.linear_gradient("L").resize((width, height))
    noise = Image.effect_noise((width, height), 24)
    rgb = Image.merge("RGB", (gradient, Image.blend(gradient, noise, 0.3), noise.rotate(180)))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Phonemaker"
    exif[ExifTags.Base.Orientation] = 6
    exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitude] = (59.0, 19.0, 30.0)
    buf = BytesIO()
    if fmt == "JPEG":
        rgb.save(buf, "JPEG", quality=92, exif=exif)
    elif fmt == "HEIF":
        rgb.save(buf, "HEIF", quality=80, exif=exif)
    else:
        rgb.save(buf, "PNG", compress_level=6)
    return buf.getvalue()


def peer(data: bytes) -> bytes:
    """A bare re-encode: what any server that "strips metadata by re-saving" does at the least."""
    with Image.open(BytesIO(data)) as image:
        out = BytesIO()
        image.convert("RGB").save(out, "JPEG", quality=85)
        return out.getvalue()


def ours(data: bytes) -> bytes:
    return sanitize(data, ImageLimits()).data


def peak_rss_kib() -> int:
    """The process's peak resident memory (Linux VmHWM: per address space, so not inherited from the parent
    through fork and exec the way ru_maxrss is)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def _measure(kind: str, data: bytes, runs: int, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    before = peak_rss_kib()
    work: Callable[[bytes], bytes] = ours if kind == "sanitize" else peer
    times = []
    out = b""
    for _ in range(runs):
        start = time.perf_counter()
        out = work(data)
        times.append(time.perf_counter() - start)
    peak = peak_rss_kib()
    queue.put((len(out), times, (peak - before) / 1024))  # KiB → MiB


def measure(kind: str, data: bytes, runs: int) -> tuple[int, list[float], float]:
    """In a fresh child: the photo arrives as bytes, so its peak memory is the work's alone."""
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    child = ctx.Process(target=_measure, args=(kind, data, runs, queue))
    child.start()
    result = queue.get(timeout=600)
    child.join()
    return result  # type: ignore[no-any-return]


CASES = [
    ("JPEG 12 MP (4032×3024, camera)", 4032, 3024, "JPEG"),
    ("HEIC 12 MP (4032×3024, iPhone)", 4032, 3024, "HEIF"),
    ("JPEG 38.9 MP (7200×5400; 40 MP is the limit)", 7200, 5400, "JPEG"),
    ("PNG screenshot (1170×2532)", 1170, 2532, "PNG"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8, help="photos per case and side (default 8)")
    args = parser.parse_args()
    print(_rig.machine())
    rows = []
    for n, (name, width, height, fmt) in enumerate(CASES, 1):
        _rig.progress(f"[{n}/{len(CASES)}] {name}")
        data = photo(width, height, fmt)
        out, ours_t, ours_mem = measure("sanitize", data, args.runs)
        _, peer_t, peer_mem = measure("peer", data, args.runs)
        rows.append([name, f"{len(data) / 1e6:.1f} MB → {out / 1e3:.0f} kB", _rig.ms(statistics.median(ours_t)),
                     _rig.ms(max(ours_t)), f"{ours_mem:.0f}", _rig.ms(statistics.median(peer_t)), f"{peer_mem:.0f}",
                     _rig.ratio(statistics.median(ours_t), statistics.median(peer_t))])
    print(f"Photo sanitizer, {args.runs} photos per case (one process per case; memory = peak RSS growth, MiB)")
    print(_rig.table(["case", "upload → stored", "ours p50 ms", "ours max ms", "ours MiB", "peer p50 ms",
                      "peer MiB", "ours/peer"], rows))


if __name__ == "__main__":
    main()
