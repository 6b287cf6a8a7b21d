"""GraphQL multipart requests (https://github.com/jaydenseric/graphql-multipart-request-spec).

The body is parsed as it is read: file parts are spooled to temporary files (on disk beyond a
small in-memory buffer), and every limit is enforced while reading, before anything is buffered
whole: bytes per file, files per request, bytes of the non-file fields, bytes of the whole request.
"""
from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass
from typing import Any

from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.formparser import FormDataParser

from core.errors import Unavailable

SPEC = "the GraphQL multipart request spec"
SPOOL_MEMORY_BYTES = 256 * 1024
"""A file part larger than this moves from memory to a temporary file on disk."""
_LIST_INDEX = re.compile(r"[0-9]{1,9}")
"""A `map` path segment that indexes a list: ASCII digits only (str.isdigit() also takes '²' and '١',
which int() then refuses or reads), and few of them (int() refuses thousands of digits)."""


class RequestRejected(Exception):
    """The HTTP request cannot be executed at all; answered with `status` and `message`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class UploadLimits:
    max_file_bytes: int
    max_files: int
    max_request_bytes: int
    max_field_bytes: int = 1024 * 1024
    """Largest non-file part (`operations`, `map`)."""


class _LimitedSpool:
    """A spooled temporary file that refuses to grow beyond `limit` bytes."""

    def __init__(self, filename: str | None, limit: int) -> None:
        self._file = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)
        self._filename = filename
        self._limit = limit
        self._size = 0

    def write(self, data: bytes) -> int:
        self._size += len(data)
        if self._size > self._limit:
            name = f" '{self._filename}'" if self._filename else ""
            raise RequestRejected(413, f"The file{name} is larger than the limit of {self._limit} bytes")
        try:
            return self._file.write(data)
        except OSError as exc:  # the temporary directory is full (or failing): ours, not the client's
            raise Unavailable("no room to spool an uploaded file") from exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


class _SpoolFactory:
    """werkzeug's `stream_factory`: called once per file part, as the part starts."""

    def __init__(self, limits: UploadLimits) -> None:
        self._limits = limits
        self.spools: list[_LimitedSpool] = []

    def __call__(self, total_content_length=None, content_type=None, filename=None, content_length=None):
        if len(self.spools) >= self._limits.max_files:
            raise RequestRejected(413, f"A request may carry at most {self._limits.max_files} files")
        spool = _LimitedSpool(filename, self._limits.max_file_bytes)
        self.spools.append(spool)
        return spool

    def close(self) -> None:
        for spool in self.spools:
            try:
                spool.close()
            except OSError:  # pragma: no cover - closing a temp file does not fail in practice
                pass


class MultipartRequest:
    """Parses a multipart request into one operation whose Upload variables hold FileStorage objects.

    Use as a context manager: the spooled files are removed on exit.
    """

    def __init__(self, request, limits: UploadLimits) -> None:
        self._request = request
        self._limits = limits
        self._factory = _SpoolFactory(limits)

    def __enter__(self) -> "MultipartRequest":
        return self

    def __exit__(self, *_exc: object) -> None:
        self._factory.close()

    def parse(self) -> dict[str, Any]:
        form, files = self._read()
        operations = _json_field(form, files, "operations")
        files_map = _json_field(form, files, "map")
        unexpected = sorted(set(form) - {"operations", "map"})
        if unexpected:
            name = unexpected[0]
            if isinstance(files_map, dict) and name in files_map:
                raise _malformed(f"the part {name!r} is not a file: a file part needs a filename in its "
                                 "Content-Disposition header")
            raise _malformed(f"unexpected field {name!r}: only 'operations', 'map' and the files named in "
                             "'map' may be sent")
        if isinstance(operations, list):
            raise _malformed("batched operations (an 'operations' array) are not supported; send one operation")
        if not isinstance(operations, dict):
            raise _malformed("'operations' must be a JSON object with 'query' and 'variables'")
        if not isinstance(files_map, dict):
            raise _malformed("'map' must be a JSON object mapping file part names to arrays of paths")
        for name, paths in files_map.items():
            if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
                raise _malformed(f"'map' entry {name!r} must be a non-empty array of path strings")
            if name not in files:
                raise _malformed(f"'map' names the file part {name!r}, but the request has no such file part")
            upload = files[name]
            for path in paths:
                _place(operations, path, upload)
        unmapped = sorted(set(files) - set(files_map))
        if unmapped:
            raise _malformed(f"the file part {unmapped[0]!r} is not named in 'map'")
        return operations

    def _read(self):
        request, limits = self._request, self._limits
        parser = FormDataParser(
            stream_factory=self._factory,
            max_form_memory_size=limits.max_field_bytes,
            max_content_length=limits.max_request_bytes,
            max_form_parts=limits.max_files + 16,
            silent=False,
        )
        try:
            _stream, form, files = parser.parse(
                request.stream, request.mimetype, request.content_length, request.mimetype_params)
        except RequestRejected:
            raise
        except RequestEntityTooLarge:
            raise RequestRejected(413, self._too_large_message()) from None
        except HTTPException as exc:  # e.g. the client disconnected mid-body
            raise _malformed(exc.description or "the body could not be read") from None
        except ValueError as exc:
            raise _malformed(str(exc)) from None
        return form, files

    def _too_large_message(self) -> str:
        limits = self._limits
        length = self._request.content_length
        if length is None or length > limits.max_request_bytes:
            return f"The request is larger than the limit of {limits.max_request_bytes} bytes"
        return (f"A multipart field other than a file is larger than {limits.max_field_bytes} bytes, "
                f"or the request has too many parts")


def _malformed(message: str) -> RequestRejected:
    return RequestRejected(400, f"Malformed multipart request ({SPEC}): {message}")


def _json_field(form, files, name: str) -> Any:
    values = form.getlist(name)
    if not values:
        if name in files:
            raise _malformed(f"'{name}' must be a plain field, not a file part")
        raise _malformed(f"the '{name}' field is missing")
    if len(values) > 1:
        raise _malformed(f"the '{name}' field is sent more than once")
    try:
        # strict=False: the GraphQL source's own example has raw line breaks inside the query string.
        return json.loads(values[0], strict=False)
    except (ValueError, RecursionError) as exc:  # RecursionError: arrays or objects nested thousands deep
        raise _malformed(f"'{name}' is not valid JSON ({exc})") from None


def _place(operations: dict[str, Any], path: str, upload: FileStorage) -> None:
    """Put the file where `path` (e.g. `variables.input.file`) points; that place must hold null."""
    segments = path.split(".")
    if len(segments) < 2 or segments[0] != "variables":
        raise _malformed(f"the path {path!r} must point into 'variables' (like 'variables.input.file')")
    container: Any = operations
    for position, segment in enumerate(segments):
        last = position == len(segments) - 1
        if isinstance(container, dict):
            if last:
                if container.get(segment) is not None:
                    raise _malformed(f"the path {path!r} must point to a null placeholder")
                container[segment] = upload
                return
            if container.get(segment) is None and segment == "variables":
                container[segment] = {}
            container = container.get(segment)
        elif isinstance(container, list) and _LIST_INDEX.fullmatch(segment) and int(segment) < len(container):
            if last:
                if container[int(segment)] is not None:
                    raise _malformed(f"the path {path!r} must point to a null placeholder")
                container[int(segment)] = upload
                return
            container = container[int(segment)]
        else:
            break
    raise _malformed(f"the path {path!r} does not exist in 'operations'")
