"""How fast and how lean PillowInspector.render is, against a naive Pillow pipeline.

    python -m bench.renditions          (or: python bench/renditions.py)

Makes a 24-megapixel photo-like JPEG and a 12-megapixel PNG, then renders core.processing.RENDITIONS
from each, with PillowInspector ("ours") and with the naive way ("naive": open, decode at full size,
exif_transpose, resize each rendition from the full image).

Memory is measured as the growth of the process's PEAK RESIDENT SET SIZE over one render, in a fresh
subprocess per (image, method), after a warm-up: the kernel's high-water mark VmHWM is reset to the
current RSS (write "5" to /proc/self/clear_refs), the render runs, and peak = VmHWM - RSS before.
tracemalloc cannot be used: Pillow allocates pixel buffers, and libjpeg/zlib their work memory, with C
malloc, which tracemalloc never sees; RSS sees all of it. getrusage's ru_maxrss is not used either: a
child inherits its parent's high-water mark across fork+exec, which hid the worker's own peak.
"""
from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # so `python bench/renditions.py` finds core/ and adapters/
    sys.path.insert(0, str(ROOT))

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageOps  # noqa: E402

from adapters.pillow_images import PillowInspector  # noqa: E402
from core.processing import JPEG_RENDITIONS as RENDITIONS  # noqa: E402 - like for like with the naive way

IMAGES = {"jpeg-24MP": ((6000, 4000), "JPEG"), "png-12MP": ((4240, 2832), "PNG")}
RUNS = {"ours": 5, "naive": 3}


# --- test material -----------------------------------------------------------------------------

def photo(width: int, height: int, seed: int = 1) -> Image.Image:
    """Gradients, shapes with hard edges and per-channel grain: compresses like a real photo,
    unlike a flat test card that a decoder would race through."""
    rnd = random.Random(seed)
    ramp = Image.linear_gradient("L")
    red = ramp.transpose(Image.Transpose.ROTATE_90).resize((width, height), Image.Resampling.BILINEAR)
    green = ramp.resize((width, height), Image.Resampling.BILINEAR)
    blue = Image.radial_gradient("L").resize((width, height), Image.Resampling.BILINEAR)
    img = Image.merge("RGB", (red, green, blue))
    draw = ImageDraw.Draw(img)
    for _ in range(60):
        x, y, side = rnd.randrange(width), rnd.randrange(height), rnd.randrange(width // 40, width // 6)
        colour = tuple(rnd.randrange(256) for _ in range(3))
        shape = draw.ellipse if rnd.random() < 0.5 else draw.rectangle
        shape((x, y, x + side, y + side * 2 // 3), fill=colour)
    grain = Image.merge("RGB", [Image.effect_noise((width, height), 20).convert("L") for _ in range(3)])
    return ImageChops.add(img, grain, 1.0, -128).filter(ImageFilter.GaussianBlur(0.6))


def make_file(directory: Path, name: str) -> Path:
    (width, height), fmt = IMAGES[name]
    img = photo(width, height)
    path = directory / f"{name}.{fmt.lower()}"
    if fmt == "JPEG":
        # Orientation 6, as a phone held upright writes it: both pipelines must rotate.
        exif = Image.Exif()
        exif[0x0112] = 6
        img.save(path, "JPEG", quality=90, exif=exif.tobytes())
    else:
        img.save(path, "PNG", compress_level=6)
    return path


# --- the two pipelines -------------------------------------------------------------------------

def naive(data: bytes) -> list[bytes]:
    img = Image.open(io.BytesIO(data))
    img.load()
    img = ImageOps.exif_transpose(img).convert("RGB")
    out = []
    for spec in RENDITIONS:
        scale = min(1.0, spec.max_side / max(img.size))
        size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        buf = io.BytesIO()
        img.resize(size, Image.Resampling.LANCZOS).save(buf, "JPEG", quality=85, optimize=True, progressive=True)
        out.append(buf.getvalue())
    return out


def ours(data: bytes) -> list[bytes]:
    return [r.data for r in PillowInspector().render(data, RENDITIONS)]


PIPELINES = {"ours": ours, "naive": naive}


# --- worker: one (image, method) in a fresh process --------------------------------------------

def _status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"{field} not in /proc/self/status (this benchmark needs Linux)")


def worker(method: str, path: str, runs: int) -> dict:
    render = PIPELINES[method]
    data = Path(path).read_bytes()
    # Warm up on a small image so imports, codec tables and allocator pools are in the baseline.
    small = io.BytesIO()
    photo(256, 192).save(small, "JPEG")
    render(small.getvalue())
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # reset the peak-RSS mark (VmHWM) to the current RSS
    before = _status_mb("VmRSS")
    started = time.perf_counter()
    render(data)
    first_ms = (time.perf_counter() - started) * 1000
    peak = _status_mb("VmHWM") - before
    times = [first_ms]
    for _ in range(runs - 1):
        started = time.perf_counter()
        render(data)
        times.append((time.perf_counter() - started) * 1000)
    return {"ms": statistics.median(times), "peak_mb": peak}


def measure(method: str, path: Path) -> dict:
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", method, str(path), str(RUNS[method])],
        capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- main --------------------------------------------------------------------------------------

def main() -> int:
    print(__doc__.strip().split("\n\n", 2)[2].replace("\n", " "), "\n")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, ((width, height), _) in IMAGES.items():
            started = time.perf_counter()
            path = make_file(Path(tmp), name)
            print(f"made {name}: {width}x{height}, {path.stat().st_size / 1e6:.1f} MB file "
                  f"in {time.perf_counter() - started:.1f} s", flush=True)
            result = {method: measure(method, path) for method in PIPELINES}
            decoded_mb = width * height * 3 / 2**20
            rows.append((name, result["ours"]["ms"], result["naive"]["ms"], result["ours"]["peak_mb"],
                         result["naive"]["peak_mb"], decoded_mb))

    print(f"\nrenditions: {', '.join(f'{s.name} {s.max_side}' for s in RENDITIONS)}; "
          f"median of {RUNS['ours']} (ours) / {RUNS['naive']} (naive) runs; MB = MiB\n")
    header = ("image", "ms ours", "ms naive", "speed ×", "peak MB ours", "peak MB naive", "decoded MB",
              "peak/decoded")
    print("{:<10} {:>8} {:>9} {:>8} {:>13} {:>14} {:>11} {:>13}".format(*header))
    ok = True
    for name, ms_ours, ms_naive, peak_ours, peak_naive, decoded in rows:
        ratio, share = ms_naive / ms_ours, peak_ours / decoded
        print(f"{name:<10} {ms_ours:>8.0f} {ms_naive:>9.0f} {ratio:>8.1f} {peak_ours:>13.1f} {peak_naive:>14.1f} "
              f"{decoded:>11.1f} {share:>13.2f}")
        ok &= share < 2.0 and (ratio >= 3.0 or not name.startswith("jpeg"))
    print("\ngoals: >= 3x faster than naive on the JPEG; peak < 2x the decoded full image:",
          "met" if ok else "NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", nargs=3, metavar=("METHOD", "PATH", "RUNS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        method, path, runs = args.worker
        print(json.dumps(worker(method, path, int(runs))))
        sys.exit(0)
    sys.exit(main())
