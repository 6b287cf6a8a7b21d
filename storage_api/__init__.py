"""The HTTP face of the local-disk store (adapters.local_blobs): an S3-compatible POST upload endpoint and
signed downloads. An entrypoint like the two APIs, mounted beside them by wsgi.py when STORAGE_URL is a
local directory.

    POST /storage/upload          multipart/form-data: the grant's fields, then a part named `file`
    GET  /storage/blobs/<key>     ?expires=...&signature=... as made by LocalBlobStore.download_url

Neither needs a bearer token: as with S3, the signature is the credential. Answers mirror S3's:
204 with an empty body on a successful upload (or `success_action_status` 200/201), and
`<Error><Code>..</Code><Message>..</Message></Error>` as application/xml on failure. One addition:
a person submitting the seed's HTML form (a page navigation, by its Sec-Fetch-* headers) gets a short
page saying the upload arrived and what comes next, where S3's 204 leaves the browser silently on the
form. Scripts (fetch, XMLHttpRequest, curl, SDKs) never navigate, so they see exactly S3's answers.

The upload body is parsed as a stream, in order, as S3 does: fields are collected until the `file`
part, the policy is checked before a single byte of the file is accepted, the file is streamed to
disk with its size limit enforced on the way, and whatever follows the file part (a browser's
`submit` button, say) is ignored. Nothing is buffered beyond one chunk.
"""
from __future__ import annotations

import logging
import uuid
from typing import BinaryIO, Iterator
from urllib.parse import quote
from xml.sax.saxutils import escape

from flask import Blueprint, Response, request, send_file
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import NEED_DATA, Data, Epilogue, Field, File, MultipartDecoder

from adapters.local_blobs import InvalidKey, LocalBlobStore, LocalStorageError
from core.errors import Unavailable

log = logging.getLogger(__name__)

READ_CHUNK = 64 * 1024
MAX_PRE_DATA = 20 * 1024
"""Form fields before the file part, in bytes (S3: MaxPostPreDataLengthExceeded above 20 KB)."""
MAX_PARTS = 64
ENVELOPE = 64 * 1024
"""Allowance for multipart framing and form fields on top of the largest file."""
SERVICE_UNAVAILABLE = LocalStorageError("ServiceUnavailable", "Service is unable to handle request.")


def create_local_storage_blueprint(store: LocalBlobStore, max_upload_bytes: int = 25 * 1024 * 1024) -> Blueprint:
    """Routes for uploads to and downloads from `store`.

    `max_upload_bytes` should be the largest size any grant admits (MAX_UPLOAD_BYTES): a request
    body longer than that plus a small envelope is refused before it is read.
    """
    bp = Blueprint("local_storage", __name__)
    max_request = max_upload_bytes + ENVELOPE

    @bp.post("/storage/upload")
    def upload() -> Response:
        # Applies to this request only (Flask >= 3.1): request.stream stops reading past it.
        request.max_content_length = max_request
        if request.content_length is not None and request.content_length > max_request:
            # Refused unread; S3 answers a body over the limit the same way.
            return _error(LocalStorageError("EntityTooLarge", "Your proposed upload exceeds the maximum allowed "
                                                              "size"))
        mimetype, options = parse_options_header(request.headers.get("Content-Type", ""))
        boundary = options.get("boundary", "")
        if mimetype != "multipart/form-data" or not boundary:
            return _error(LocalStorageError("PreconditionFailed", "Bucket POST must be of the enclosure-type "
                                                                  "multipart/form-data"))
        stream = request.stream
        try:
            etag, key, status = _receive(store, stream, boundary.encode("latin-1"))
        except LocalStorageError as exc:
            _drain(stream)
            return _error(exc)
        except RequestEntityTooLarge:
            return _error(LocalStorageError("EntityTooLarge", "Your proposed upload exceeds the maximum allowed "
                                                              "size"))
        except ClientDisconnected:
            return _error(LocalStorageError("IncompleteBody", "You did not provide the number of bytes specified "
                                                              "by the Content-Length HTTP header"))
        except (OSError, Unavailable):
            # Disk full, the store's directory gone...: S3's answer when it cannot serve now, which
            # clients retry, rather than the app's HTML error page.
            log.exception("could not store an upload")
            return _error(SERVICE_UNAVAILABLE)
        _drain(stream)
        # Like S3's Location: where the object lives (reading it still takes a signed URL).
        location = store.base_url().rstrip("/") + "/storage/blobs/" + quote(key, safe="/")
        headers = {"ETag": f'"{etag}"', "Location": location}
        if status == 201:
            body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PostResponse>"
                    f"<Location>{escape(location)}</Location><Bucket>{escape(store.bucket)}</Bucket>"
                    f"<Key>{escape(key)}</Key><ETag>\"{etag}\"</ETag></PostResponse>")
            return Response(body, status=201, headers=headers, content_type="application/xml")
        if status == 204 and _is_page_navigation():
            return _uploaded_page(key, etag, headers)
        response = Response(b"", status=status, headers=headers)
        del response.headers["Content-Type"]  # an empty answer has no type (S3 sends none)
        return response

    @bp.get("/storage/blobs/<path:key>")
    def download(key: str) -> Response:
        try:
            path = store.verify_download(key, request.args.get("expires"), request.args.get("signature"))
            content_type = store.content_type(key)
            response = send_file(path, mimetype=content_type, conditional=True, etag=True, max_age=None)
        except LocalStorageError as exc:
            return _error(exc)
        except (FileNotFoundError, IsADirectoryError, InvalidKey):
            # Deleted between the check and the open.
            return _error(LocalStorageError("NoSuchKey", "The specified key does not exist."))
        except (OSError, Unavailable):
            log.exception("could not serve a download")
            return _error(SERVICE_UNAVAILABLE)
        # Revalidate every time, so a delete takes effect at once; the ETag keeps revalidation cheap.
        response.headers["Cache-Control"] = "private, max-age=0"
        # The bytes are the uploader's (a JPEG may carry HTML after its end): never sniffed into a page,
        # never run with the gateway's origin.
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = "sandbox"
        return response

    return bp


def _receive(store: LocalBlobStore, stream: BinaryIO, boundary: bytes) -> tuple[str, str, int]:
    """Parse the multipart body in order and store the file; returns (etag, key, success status)."""
    events = _events(stream, boundary)
    fields: dict[str, str] = {}
    pre_data = 0
    for event in events:
        if isinstance(event, Epilogue):
            break
        if not isinstance(event, (Field, File)):
            continue
        name = event.name or ""
        if name.lower() == "file":
            # S3 takes the part named "file" as the content whether or not it carries a filename.
            post = store.authorize_post(fields)
            etag = store.receive(post, _part_data(events))
            return etag, post.key, post.success_action_status
        value = bytearray()
        for chunk in _part_data(events):
            pre_data += len(chunk)
            if pre_data > MAX_PRE_DATA:
                raise _pre_data_too_large()
            value += chunk
        if name.lower() in (n.lower() for n in fields):
            raise LocalStorageError("InvalidArgument", f"Field {name} is given more than once")
        try:
            fields[name] = value.decode("utf-8")
        except UnicodeDecodeError:
            raise LocalStorageError("InvalidArgument", f"Field {name} is not UTF-8") from None
    raise LocalStorageError("InvalidArgument", "POST requires exactly one file upload per request.")


def _events(stream: BinaryIO, boundary: bytes) -> Iterator[object]:
    """Multipart events as the body arrives, one read chunk at a time."""
    decoder = MultipartDecoder(boundary, max_form_memory_size=4 * READ_CHUNK, max_parts=MAX_PARTS)
    while True:
        chunk = stream.read(READ_CHUNK)
        try:
            decoder.receive_data(chunk or None)
            while True:
                event = decoder.next_event()
                if event is NEED_DATA:
                    break
                yield event
                if isinstance(event, Epilogue):
                    return
        except ValueError:
            raise LocalStorageError("MalformedPOSTRequest", "The body of your POST request is not well-formed "
                                                            "multipart/form-data.") from None
        except RequestEntityTooLarge:  # the decoder's part count or field size, before any file
            raise _pre_data_too_large() from None
        if not chunk:
            return


def _part_data(events: Iterator[object]) -> Iterator[bytes]:
    """The data of the current part, up to its end."""
    for event in events:
        if not isinstance(event, Data):
            raise LocalStorageError("MalformedPOSTRequest", "The body of your POST request is not well-formed "
                                                            "multipart/form-data.")
        if event.data:
            yield event.data
        if not event.more_data:
            return
    raise LocalStorageError("IncompleteBody", "The request body ended inside a form part.")


def _pre_data_too_large() -> LocalStorageError:
    return LocalStorageError("MaxPostPreDataLengthExceeded", "Your POST request fields preceeding the upload file "
                                                             "was too large.")


def _drain(stream: BinaryIO) -> None:
    """Read what the client still sends (bounded by the route's max_content_length), so it reads our
    answer instead of a connection reset."""
    try:
        while stream.read(READ_CHUNK):
            pass
    except (RequestEntityTooLarge, ClientDisconnected, OSError):
        pass


def _is_page_navigation() -> bool:
    return request.headers.get("Sec-Fetch-Mode") == "navigate" and request.headers.get("Sec-Fetch-Dest") == "document"


def _uploaded_page(key: str, etag: str, headers: dict[str, str]) -> Response:
    body = ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Upload received</title>"
            "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem}"
            "code{background:#eee;padding:0 .25rem}</style></head><body><h1>Upload received</h1>"
            f"<p>The file is stored under the key <code>{escape(key)}</code> (ETag <code>{escape(etag)}</code>).</p>"
            "<p>It belongs to no realty yet: save it with <code>POST /realty/{realtyId}/images</code> and the body "
            f"<code>{{\"uploadedImages\": [{{\"key\": \"{escape(key)}\"}}]}}</code> before the grant expires.</p>"
            "<p>Use your browser's Back button to return to the form.</p></body></html>")
    response = Response(body, status=200, headers=headers, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _error(exc: LocalStorageError) -> Response:
    request_id = uuid.uuid4().hex[:16].upper()
    body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            f"<Error><Code>{escape(exc.code)}</Code><Message>{escape(exc.message)}</Message>"
            f"<RequestId>{request_id}</RequestId></Error>")
    return Response(body, status=exc.status, content_type="application/xml")


__all__ = ["create_local_storage_blueprint"]
