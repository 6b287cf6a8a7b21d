"""A request body the server cannot read, answered as the client's broken request by every entrypoint."""
from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

from werkzeug.exceptions import ClientDisconnected, HTTPException


class UnreadableBodies:
    """WSGI middleware: a request body the server cannot read is the client's broken request (400).

    gunicorn raises its own exceptions from the body stream (InvalidChunkSize, ChunkMissingTerminator,
    NoMoreData for a malformed or cut-off chunked body), which are not the OSError that werkzeug turns
    into ClientDisconnected. Raised as ClientDisconnected (a BadRequest) here, every entrypoint
    answers them as it answers any body it cannot read, each in its own shape.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ["wsgi.input"] = _ReadErrorsAsClientDisconnected(environ["wsgi.input"])
        return self.app(environ, start_response)


class _ReadErrorsAsClientDisconnected:
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def read(self, *args: Any) -> bytes:
        return self._call(self._stream.read, *args)

    def readline(self, *args: Any) -> bytes:
        return self._call(self._stream.readline, *args)

    def readlines(self, *args: Any) -> list[bytes]:
        return self._call(self._stream.readlines, *args)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")

    def __getattr__(self, name: str) -> Any:  # anything else a server's stream offers, as it is
        return getattr(self._stream, name)

    @staticmethod
    def _call(method: Callable[..., Any], *args: Any) -> Any:
        try:
            return method(*args)
        except HTTPException:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever the server raises, the body cannot be read
            raise ClientDisconnected(f"The request body could not be read: {exc.__class__.__name__}") from exc
