"""Rules on what callers write, the same over both APIs: texts and the spelling of ids.

Each rule checks one value and names what is wrong in the core's words (a `FieldError` with a field
path and a `Problem`); the use cases apply them and refuse a request with every problem at once. The
facades parse shapes only (a string, a list) and translate the words; OpenAPI reads the limits here.
"""
from __future__ import annotations

import re
from uuid import UUID

from core.errors import FieldError, InvalidInput, Problem

MAX_DESCRIPTION_LENGTH = 4000
MAX_NAME_LENGTH = 255
"""Names of properties, rooms, external ids and uploaded files."""

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_NOT_IN_FILE_NAMES = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
_CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_storable(text: str) -> bool:
    """Whether every database we run on keeps `text` as it is.

    JSON can escape both NUL, which PostgreSQL text refuses, and unpaired surrogates, which no UTF-8
    store takes.
    """
    return _UNSTORABLE.search(text) is None


def parse_uuid(text: object) -> UUID | None:
    """A UUID in its text form only: 8-4-4-4-12 hex digits, either case; None for anything else.

    uuid.UUID() also reads 32 bare hex digits, `{...}`, `urn:uuid:...` and surrounding space; the REST
    contract says "a UUID" with the seed's hyphenated pattern, and both APIs accept the same spellings.
    """
    if not isinstance(text, str) or not _CANONICAL_UUID.fullmatch(text):
        return None
    return UUID(text)


def clean_file_name(name: str | None) -> str | None:
    """A client's file name as it is kept: its last path component (either separator), without control
    characters (they would end up in `filename` and `source`), at most MAX_NAME_LENGTH long."""
    base = _NOT_IN_FILE_NAMES.sub("", re.split(r"[\\/]", name or "")[-1]).strip()
    return base[:MAX_NAME_LENGTH] or None


class TextRules:
    """Collects what is wrong with the texts of one request, so the caller learns it all at once."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def storable(self, value: str, field: str) -> str:
        """Any text is storable: no NUL, no unpaired surrogate."""
        if not is_storable(value):
            self._refuse(field, "must not contain a NUL character or an unpaired surrogate")
        return value

    def description(self, value: str | None, field: str) -> str | None:
        """A description is at most MAX_DESCRIPTION_LENGTH storable characters, kept exactly as given."""
        if value is not None:
            self.storable(value, field)
            if len(value) > MAX_DESCRIPTION_LENGTH:
                self._refuse(field, f"may be at most {MAX_DESCRIPTION_LENGTH} characters long")
        return value

    def name(self, value: str | None, field: str, required: bool = False) -> str | None:
        """A name (of a property, a room, an external id) is kept without surrounding space, at most
        MAX_NAME_LENGTH storable characters; a required one is not empty."""
        if value is None:
            if required:
                self.errors.append(FieldError(field, Problem.MISSING, "is required"))
            return None
        text = self.storable(value, field).strip()
        if required and not text:
            self._refuse(field, "must not be empty")
        if len(text) > MAX_NAME_LENGTH:
            self._refuse(field, f"may be at most {MAX_NAME_LENGTH} characters long")
        return text or None

    def original_file_name(self, value: str | None, field: str) -> str | None:
        """A file name a caller states is at most MAX_NAME_LENGTH storable characters; it is kept as a
        plain name (clean_file_name)."""
        if value is None:
            return None
        self.storable(value, field)
        if len(value) > MAX_NAME_LENGTH:
            self._refuse(field, f"may be at most {MAX_NAME_LENGTH} characters long")
        return clean_file_name(value)

    def raise_if_any(self) -> None:
        if self.errors:
            first = self.errors[0]
            more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
            raise InvalidInput(f"{first.target} {first.message}{more}", self.errors)

    def _refuse(self, field: str, why: str) -> None:
        self.errors.append(FieldError(field, Problem.INVALID, why))
