"""The interfaces the core needs from the outside world; `adapters/` implements them."""
from __future__ import annotations

import abc
import time
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Hashable, Sequence
from uuid import UUID

from core.photo_checks import PhotoChecks



# --- blobs -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class UploadForm:
    """Where and how a client uploads one object: POST `fields` plus a `file` part to `url`."""

    url: str
    fields: dict[str, str]
    expires_at: datetime


@dataclass(frozen=True)
class BlobContent:
    """An object as read at one moment."""

    size: int
    version: str
    """Names exactly these bytes (S3: the ETag), so a later copy can insist on them."""
    data: bytes | None
    """None when the object is larger than the reader asked for: then it was not read."""


class BlobChanged(Exception):
    """The object is no longer the version the caller named (it was overwritten meanwhile)."""


class BlobStore(abc.ABC):
    @abc.abstractmethod
    def upload_form(self, key: str, content_type: str, max_bytes: int, expires_in: int) -> UploadForm:
        """A presigned POST form that admits exactly this key, type and size range."""

    @abc.abstractmethod
    def read_version(self, key: str, max_bytes: int) -> BlobContent | None:
        """The object's bytes (when at most `max_bytes`) and version; None when it does not exist."""

    @abc.abstractmethod
    def read(self, key: str) -> bytes:
        """The object's bytes; FileNotFoundError when it does not exist."""

    @abc.abstractmethod
    def put(self, key: str, data: bytes | BinaryIO, content_type: str) -> None: ...

    @abc.abstractmethod
    def copy(self, source: str, target: str, if_version: str) -> None:
        """Server-side copy of exactly the version `if_version` of `source` (the bytes never pass
        through the gateway); BlobChanged when the source is another version now, FileNotFoundError
        when it does not exist."""

    @abc.abstractmethod
    def delete(self, keys: Sequence[str]) -> None:
        """Delete; keys that do not exist are not an error."""

    @abc.abstractmethod
    def download_url(self, key: str, expires_in: int) -> str:
        """A time-limited URL that returns the object with no further credential."""

    def download_urls(self, keys: Sequence[str], expires_in: int) -> list[str]:
        """`download_url` of each key, in order: a listing asks for hundreds at once."""
        return [self.download_url(key, expires_in) for key in keys]

    def url_generation(self) -> Hashable:
        """A value that stays the same as long as `download_url` gives the same URL for the same key and
        expiry, so whatever embeds URLs may be kept that long. By default a new value every call."""
        return object()

    @abc.abstractmethod
    def ping(self) -> None:
        """Raise when storage does not answer."""

    def logical_key(self, form_key: str) -> str:
        """The key the gateway uses for the object a client names by its upload form's `key`.

        The two differ only where a store keeps its objects under a prefix; ValueError when
        `form_key` is not one of this store's keys.
        """
        return form_key


# --- images ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImageFacts:
    content_type: str
    """The type the bytes really are, e.g. image/jpeg."""
    width: int
    height: int
    """As displayed: EXIF orientation applied."""


@dataclass(frozen=True)
class RenditionSpec:
    name: str
    max_side: int
    content_type: str = "image/jpeg"


@dataclass(frozen=True)
class RenderedImage:
    data: bytes
    width: int
    height: int
    content_type: str


@dataclass(frozen=True)
class RenderResult:
    renditions: list[RenderedImage]
    checks: PhotoChecks


class ImageInspector(abc.ABC):
    @abc.abstractmethod
    def inspect(self, data: bytes, max_pixels: int) -> ImageFacts:
        """Verify the bytes are a whole image of an allowed format within the pixel limit.

        Raises UnsupportedImageType for anything that is not, UploadRejected for limits.
        """

    @abc.abstractmethod
    def render(self, data: bytes, specs: Sequence[RenditionSpec]) -> list[RenderedImage]:
        """Upright, sRGB, metadata-free renditions fitting each spec's box, never upscaled."""

    @abc.abstractmethod
    def render_checked(self, data: bytes, specs: Sequence[RenditionSpec]) -> RenderResult:
        """`render`, and the measurements of CONTRACT §11 made on the same decode (core/photo_checks.py)."""


# --- jobs ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RenderJob:
    """Make the renditions of one image. Carries what the job needs to find the image without a
    lookup by uuid across tenants."""

    org: str
    realty_uuid: UUID
    image_uuid: UUID


@dataclass(frozen=True)
class FanOutJob:
    """Make the org's new events due to its webhooks."""

    org: str


@dataclass(frozen=True)
class DeliveryJob:
    """Send a webhook the events due to it."""

    org: str
    webhook_id: UUID
    delay_seconds: float = 0.0
    """Not before this long from now: the queue holds it (a retry waits so)."""


Job = RenderJob | FanOutJob | DeliveryJob


class JobQueue(abc.ABC):
    """Where jobs wait for a worker. Delivery is at least once: a job may run twice."""

    @abc.abstractmethod
    def enqueue(self, jobs: Sequence[Job]) -> None: ...

    @abc.abstractmethod
    def backlog(self) -> int:
        """Render jobs queued or running now, as far as the queue knows."""


# --- time, ids, credentials ------------------------------------------------------------------

class Clock(abc.ABC):
    @abc.abstractmethod
    def now(self) -> datetime:
        """Timezone-aware UTC now."""

    def sleep(self, seconds: float) -> None:
        """Wait this long (a test's clock may move on instead)."""
        time.sleep(seconds)


class IdGenerator(abc.ABC):
    @abc.abstractmethod
    def new(self) -> UUID: ...


@dataclass(frozen=True)
class Caller:
    """Who is calling: the agent (`sub`) and the tenant (`org`) whose data they see."""

    sub: str
    org: str


class Authenticator(abc.ABC):
    @abc.abstractmethod
    def authenticate(self, token: str | None) -> Caller:
        """The caller behind a bearer token; raises Unauthenticated."""

    @abc.abstractmethod
    def issue(self, sub: str, org: str | None, ttl_seconds: int) -> str: ...


# --- change signals --------------------------------------------------------------------------

class ChangeSignals(abc.ABC):
    """Wakes those waiting for an org's next event (long polls), in every process that shares them."""

    @abc.abstractmethod
    def announce(self, orgs: Sequence[str]) -> None:
        """Events of these orgs were committed."""

    @abc.abstractmethod
    def version(self, org: str) -> int:
        """A number that changes with every announcement of the org seen here."""

    @abc.abstractmethod
    def wait(self, org: str, version: int, timeout: float) -> None:
        """Return once the org's version is no longer `version`, or after `timeout` seconds."""


# --- webhooks --------------------------------------------------------------------------------

@dataclass(frozen=True)
class WebhookMessage:
    """One POST to a webhook endpoint, as Standard Webhooks defines it."""

    url: str
    addresses: Sequence[str]
    """Where the URL's host was found to resolve when it was checked: the request goes to one of
    these, never to what a later DNS answer says (which may have changed meanwhile)."""
    id: str
    timestamp: datetime
    body: bytes
    secret: str


@dataclass(frozen=True)
class SendResult:
    status_code: int | None
    """None: no answer (refused, timed out, not a valid HTTP answer)."""
    duration_ms: int
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookSender(abc.ABC):
    @abc.abstractmethod
    def resolve(self, host: str, port: int) -> list[str]:
        """The IP addresses of a host now; empty when it does not resolve."""

    @abc.abstractmethod
    def send(self, message: WebhookMessage, timeout: float) -> SendResult:
        """POST the message, signed with its secret, following no redirect; never raises for anything the
        endpoint or the network does (that is the result)."""
