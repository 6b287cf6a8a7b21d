"""The largest answer a request may get, counted in bytes before it runs (issue 20, finding 5).

The cost (graphql_api.cost) counts fields, not bytes: 220 aliases of `description` over a property's
200 images cost 44,000, within MAX_COST, yet with 4,000-character descriptions they answered 529 MB in
2.4 s, and four such requests at once took a worker to 2.8 GB. Every field's largest value is known (a
description is at most 4,000 characters, core.input_rules; a name 255; an id, a date, a URL a few dozen
to a few thousand bytes), so the largest answer an operation can get is counted as its cost is, with
each list at its largest (graphql_api.selections), in bytes of the JSON graphql_api.view writes. A
request whose answer could pass MAX_ANSWER_BYTES is refused before anything of it runs.
"""
from __future__ import annotations

import json
from functools import cache
from typing import Any

from graphql import (
    FieldNode, GraphQLError, GraphQLField, GraphQLList, GraphQLObjectType, GraphQLSchema, get_named_type,
    get_nullable_type, introspection_from_schema, is_enum_type, is_leaf_type, is_object_type,
)

from core.channels import CHANNELS
from core.input_rules import MAX_DESCRIPTION_LENGTH, MAX_NAME_LENGTH
from core.webhooks import MAX_ERROR_LENGTH, MAX_URL_LENGTH
from core.processing import RENDITIONS
from graphql_api.selections import Operation, OverLimit, Walk

MAX_ANSWER_BYTES = 32 * 1024 * 1024
"""The largest answer a request may get. Every field of the fullest property (200 images with renditions,
each text at its longest; its rooms with their images, the same 200 again) takes at most 17 MB: it fits
with room for more. A worker holds about twice an answer's size while it writes it (the result, the JSON
text, its bytes: under gunicorn, two 29 MB answers at once took a worker from 88 to 204 MB), so gunicorn's
4 threads per worker need at most about 260 MB for answers; two 529 MB answers took 1.8 GB before."""


def text_bytes(characters: int) -> int:
    """A JSON string of at most `characters` characters a caller wrote: each may be a control character,
    which is stored as given (core.input_rules.is_storable) and written as `\\u0001`, 6 bytes."""
    return 2 + 6 * characters


URL_BYTES = 2 + 2_048
"""A signed download URL: the store's origin and prefix, a key of about 80 characters and the signature's
query (S3's is about 450 characters, plus up to about 1,400 for a session token). ASCII, escaped by neither
JSON nor graphql-core."""
FILE_NAME_CHARACTERS = MAX_NAME_LENGTH + 64
REASON_BYTES = 2 + 4 * 120
"""A channel's reasons: at most four sentences of core.channels, in ASCII but for ×."""
IMAGE_ITEM_BYTES = (2_000 + text_bytes(MAX_DESCRIPTION_LENGTH) + text_bytes(MAX_NAME_LENGTH) + 4 * URL_BYTES
                    + 500 + len(CHANNELS) * (REASON_BYTES + 100))
"""An event's `image`, the REST listing's item: its description and file name at their longest, the original's
and three renditions' URLs, some 2 KB of ids, numbers, times and names, its quality and its channels."""
"""`filename` and `source`: the stated file name, with a time stamp, an md5 and an extension around it."""
FIELD_BYTES = {
    ("Property", "name"): text_bytes(MAX_NAME_LENGTH),
    ("Property", "externalId"): text_bytes(MAX_NAME_LENGTH),
    ("Room", "name"): text_bytes(MAX_NAME_LENGTH),
    ("Image", "description"): text_bytes(MAX_DESCRIPTION_LENGTH),
    ("Image", "originalFileName"): text_bytes(MAX_NAME_LENGTH),
    ("Image", "filename"): text_bytes(FILE_NAME_CHARACTERS),
    ("Image", "source"): text_bytes(FILE_NAME_CHARACTERS),
    ("Image", "imageHash"): 2 + 32,
    ("Image", "contentType"): 2 + 64,  # one the gateway detected, e.g. image/jpeg
    ("Image", "url"): URL_BYTES,
    ("Image", "processingError"): 2 + 1_000,  # one of core.processing's sentences, in ASCII
    ("Rendition", "name"): 2 + max(len(spec.name) for spec in RENDITIONS),
    ("Image", "perceptualHash"): 2 + 16,
    ("Image", "blurhash"): 2 + 2 + 4 + 2 * (9 * 9 - 1),  # the longest blurhash (9×9 components)
    ("ImageQuality", "sharpness"): 24,  # a float
    ("ImageQuality", "brightness"): 24,
    ("ImageQuality", "darkFraction"): 24,
    ("ImageQuality", "brightFraction"): 24,
    ("ChannelReadiness", "channel"): 2 + max(len(c.name) for c in CHANNELS),
    ("ChannelReadiness", "reasons"): REASON_BYTES,
    ("Rendition", "url"): URL_BYTES,
    ("Rendition", "contentType"): 2 + 64,
    ("EventPage", "next"): 2 + 20,  # a number
    ("Event", "type"): 2 + 32,
    ("Event", "occurredAt"): 2 + len("2024-01-01T00:00:00.000000Z"),
    ("EventData", "image"): IMAGE_ITEM_BYTES,
    ("Webhook", "url"): text_bytes(MAX_URL_LENGTH),
    ("Webhook", "events"): 2 + 32,
    ("Webhook", "description"): text_bytes(MAX_DESCRIPTION_LENGTH),
    ("Webhook", "disabledReason"): 2 + 1_000,  # one of core.webhooks' sentences
    ("WebhookAttempt", "eventId"): 2 + 64,
    ("WebhookAttempt", "eventType"): 2 + 32,
    ("WebhookAttempt", "error"): text_bytes(MAX_ERROR_LENGTH),
    ("WebhookAttempt", "state"): 2 + 16,
    ("CreateWebhookPayload", "secret"): 2 + 64,
}
"""The largest JSON value of each String field of the schema, and of any other leaf field whose type's largest
value (SCALAR_BYTES_BY_TYPE, an enum's longest) does not do (checked at start)."""
SCALAR_BYTES_BY_TYPE = {
    ("", "Int"): len(str(-2**31)),
    ("", "Boolean"): len("false"),
    ("", "ID"): 2 + 60,  # a global id: base64 of {"type":"UnitType","id":<19 digits>}; a UUID is shorter
    ("", "DateTime"): 2 + len("2024-01-01T00:00:00.000000+00:00"),
}
"""The largest JSON value of the other scalars, by type."""
NULL_BYTES = len("null")
ENVELOPE_BYTES = len('{"data": {}}\n')


def answer_size_error(max_bytes: int) -> GraphQLError:
    """The refusal of a request whose answer could pass `max_bytes`."""
    return GraphQLError(
        f"The answer to this request could be larger than the maximum of {max_bytes // (1024 * 1024)} MB, counted "
        f"before running it: every field at its longest (a description {MAX_DESCRIPTION_LENGTH} characters, a name "
        f"{MAX_NAME_LENGTH}), once for each object it may be resolved on (each list at its largest). Ask for fewer "
        "aliases of long texts, or split the request")


class AnswerSize:
    """The size rules for one schema; `size` is safe to call from any thread."""

    def __init__(self, schema: GraphQLSchema, list_sizes: dict[tuple[str, str], int]) -> None:
        self.schema = schema
        self._list_sizes = list_sizes
        self._leaf_bytes = _leaf_bytes(schema)

    def size(self, operation: Operation, limit: int) -> int:
        """The most bytes the operation's answer can take; limit + 1 as soon as it passes `limit`."""
        try:
            return ENVELOPE_BYTES + _Size(self.schema, self._list_sizes, operation, self._leaf_bytes).total(limit)
        except OverLimit:
            return limit + 1


class _Size(Walk):
    """One request's largest answer, as json.dumps writes it: `"key": value` joined by `, `, each object
    `{...}` or `null`, each list `[...]`."""

    def __init__(self, schema: GraphQLSchema, list_sizes: dict[tuple[str, str], int], operation: Operation,
                 leaf_bytes: dict[tuple[str, str], int]) -> None:
        super().__init__(schema, list_sizes, operation)
        self._leaf_bytes = leaf_bytes

    def field_total(self, parent: GraphQLObjectType, name: str, field: GraphQLField, nodes: list[FieldNode],
                    limit: int, realty_read: bool, listed_room: bool) -> int:
        key = nodes[0].alias.value if nodes[0].alias else name  # a GraphQL name: ASCII, never escaped
        own = len(key) + len('"": , ')
        count = self.items(parent, name, field, nodes, listed_room)
        if isinstance(get_nullable_type(field.type), GraphQLList):
            own += len("[]") + count * len(", ")
        named = get_named_type(field.type)
        if is_leaf_type(named):
            leaf = self._leaf_bytes.get(("", name) if name == "__typename" else (parent.name, name))
            return own + count * max(leaf or self._leaf_bytes[("", named.name)], NULL_BYTES)
        own += count * NULL_BYTES  # `{}` or `null`, whichever is written
        return own + self.below(parent, name, field, nodes, count, limit - own, realty_read)


@cache  # the schema is built once per process (graphql_api.make_schema); introspecting it takes 50 ms
def _leaf_bytes(schema: GraphQLSchema) -> dict[tuple[str, str], int]:
    """FIELD_BYTES, the introspection texts at their longest in this schema, and every other leaf by its
    type (parent ""); ValueError when a field has neither (every String field needs its own)."""
    sizes: dict[tuple[str, str], int] = {**FIELD_BYTES, **SCALAR_BYTES_BY_TYPE}
    sizes.update({("", t.name): 2 + max(map(len, t.values)) for t in schema.type_map.values() if is_enum_type(t)})
    sizes[("", "__typename")] = 2 + max(map(len, schema.type_map))
    _longest_texts(introspection_from_schema(schema)["__schema"], schema.get_type("__Schema"), sizes)
    leaves = [(t.name, name, get_named_type(field.type).name) for t in schema.type_map.values() if is_object_type(t)
              for name, field in t.fields.items() if is_leaf_type(get_named_type(field.type))]
    # An introspection text this schema never fills (no deprecations, no scalar specification) is null.
    sizes.update({(parent, name): NULL_BYTES for parent, name, _type in leaves
                  if parent.startswith("__") and (parent, name) not in sizes and ("", _type) not in sizes})
    unsized = [f"{parent}.{name}" for parent, name, type_name in leaves
               if (parent, name) not in sizes and ("", type_name) not in sizes]
    if unsized:
        raise ValueError(f"fields without a largest size in graphql_api.answer_size.FIELD_BYTES: {', '.join(unsized)}")
    return sizes


def _longest_texts(value: Any, of_type: Any, sizes: dict[tuple[str, str], int]) -> None:
    """The longest value of each String field in an introspection result, walked with its types."""
    if isinstance(value, list):
        for item in value:
            _longest_texts(item, of_type, sizes)
        return
    for name, item in (value or {}).items():
        field_type = get_named_type(of_type.fields[name].type)
        if isinstance(item, str) and field_type.name == "String":
            size = len(json.dumps(item, ensure_ascii=False).encode())
            sizes[(of_type.name, name)] = max(size, sizes.get((of_type.name, name), NULL_BYTES))
        elif is_object_type(field_type):
            _longest_texts(item, field_type, sizes)


__all__ = ["MAX_ANSWER_BYTES", "AnswerSize", "answer_size_error"]
