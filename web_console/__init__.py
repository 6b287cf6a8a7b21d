"""The web console at GET /: a person's view of a realty's gallery, on the gateway's public REST API only.

Static files, no build step: `static/index.html` and its ES modules, found next to this module (never
through the working directory). The page holds no credential of its own: the bearer token it is given
lives in the tab's sessionStorage and travels in an Authorization header, never in a cookie.
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, send_from_directory

STATIC_DIR = Path(__file__).resolve().parent / "static"

# Scripts and styles only from the gateway. Images and uploads may live elsewhere (S3's signed URLs and
# presigned POSTs), so img-src and connect-src stay open; no script ever runs from there.
CONSOLE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src * data: blob:; connect-src *; "
               "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


def create_console_blueprint() -> Blueprint:
    """GET / (the console page), /console/* (its scripts and styles) and /favicon.ico."""
    bp = Blueprint("web_console", __name__, static_folder=str(STATIC_DIR), static_url_path="/console")

    @bp.get("/")
    def index() -> Response:
        response = send_from_directory(STATIC_DIR, "index.html", max_age=0)
        response.headers["Content-Security-Policy"] = CONSOLE_CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @bp.get("/favicon.ico")
    def favicon() -> Response:
        # Every page a browser opens here asks for it; an icon beats a JSON 404 in the log.
        return send_from_directory(STATIC_DIR, "icon.svg", mimetype="image/svg+xml", max_age=86400)

    return bp


__all__ = ["create_console_blueprint"]
