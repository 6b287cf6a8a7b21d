"""Waiting for render jobs: they run after a save answers, in the gateway's own worker threads."""
from __future__ import annotations

from flask import Flask


def wait_processed(app: Flask, timeout_ms: int = 180_000) -> None:
    """Return once no render job of the app's in-process queue is waiting or running."""
    app.extensions["realty"].jobs.join(timeout_ms)
