"""The time windows download URLs are signed in (CONTRACT §7), shared by both blob stores.

A URL handed out at time t is signed as of the start of t's window, w = floor(t / W) * W, and expires
at w + W + ttl. So within a window every call for a key returns the same URL (listings stay
byte-identical, browsers and CDNs can cache the images), every URL stays valid at least `ttl` seconds
after it was handed out (w + W > t), and gunicorn workers agree without talking: w depends only on
the clock.
"""
from __future__ import annotations

MAX_PRESIGNED_SECONDS = 604_800
"""S3 refuses a presigned URL whose X-Amz-Expires is longer than seven days."""


def window_start(now: float, window: int) -> int:
    """The start, in epoch seconds, of the window holding `now` (epoch seconds)."""
    return int(now // window) * window


def check_window(window: int, ttl: int | None = None) -> None:
    """ValueError unless `window` (and with `ttl`, the longest lifetime window + ttl) is usable."""
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"a URL window must be a whole number of seconds >= 1, got {window!r}")
    if ttl is not None and window + ttl > MAX_PRESIGNED_SECONDS:
        raise ValueError(f"a URL window of {window} s plus a lifetime of {ttl} s exceeds S3's limit of "
                         f"{MAX_PRESIGNED_SECONDS} s for a presigned URL")
