"""Marshmallow schemas: the Realty Image API 2.0 shapes, with the contract's camelCase names.

Request schemas only parse (types, shapes, the contract's size bounds) and turn what they read into
the core's input objects; every business rule stays in the core. Response schemas format what the
views hand them (UUIDs, ISO 8601 timestamps, enum values) and document it in the OpenAPI spec.
"""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, utils, validate

from core.photo_checks import QualityIssue
from core.domain import (
    ACCEPTED_UPLOAD_TYPES, MAX_IMAGES_PER_REALTY, ImageCategory, ImageChange, Processing,
)
from core.input_rules import MAX_DESCRIPTION_LENGTH, MAX_NAME_LENGTH, parse_uuid
from core.commands import UploadedImage

REQUEST_ID_HEADER = "Request-ID"
REQUEST_ID_DESCRIPTION = ("A unique id which identifies the HTTP request. The value of this header must be "
                          "created by the client.")
REQUEST_ID_EXAMPLE = "9031d1c5-7d40-41dd-b2b8-7919a2fc4fe9"
WRITE_REQUEST_ID_DESCRIPTION = REQUEST_ID_DESCRIPTION + (
    " On writes (POST, PUT, DELETE) it is also the idempotency key: the same request (same operation, path "
    "and body) sent again with the same Request-ID within 24 hours, by the same organisation, gets the first "
    "successful answer again, with the header `Idempotent-Replayed: true`, and is not done twice, also when the "
    "two arrive at the same time. Send a new Request-ID for each new request: one reused for a different "
    "request is refused (400 BAD_REQUEST_PARAMETERS). While the first is still being answered a copy waits "
    "for it, up to 10 seconds, then gets 409 CONFLICT: retry it. An answer that was an error (4xx, or 409, "
    "500, 503) is not kept: the same request may be sent again with the same Request-ID.")


class StrictBoolean(fields.Boolean):
    """A JSON boolean and nothing else: marshmallow's Boolean would also take "yes", 1 or "true"."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class CanonicalUUID(fields.UUID):
    """A UUID spelled as the core accepts it (`core.input_rules.parse_uuid`), the same over both APIs."""

    def _validated(self, value: Any) -> Any:
        if isinstance(value, str) and parse_uuid(value) is None:
            raise self.make_error("invalid_uuid")
        return super()._validated(value)


class BoundedList(fields.List):
    """A List whose validators (its Length) run before its items are loaded.

    marshmallow checks the length after loading every item: an array of a million bad items, which fits
    in the body limit, would cost a million item loads and a million-entry errors[]. Here it costs one."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list:
        if utils.is_collection(value):
            self._validate(value)
        return super()._deserialize(value, attr, data, **kwargs)


class Category(fields.Enum):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(ImageCategory, by_value=True, allow_none=True, **kwargs)


# --- headers and path -------------------------------------------------------------------------

class _ValidateOnly(ma.Schema):
    """Parsed only to be validated: the views do not need the value (the echo happens after the request)."""

    @ma.post_load
    def _nothing(self, data: dict, **kwargs: Any) -> dict:
        return {}


class RequestIdHeader(_ValidateOnly):
    request_id = CanonicalUUID(data_key=REQUEST_ID_HEADER, required=True,
                               metadata={"description": WRITE_REQUEST_ID_DESCRIPTION, "example": REQUEST_ID_EXAMPLE})


class OptionalRequestIdHeader(_ValidateOnly):
    request_id = CanonicalUUID(data_key=REQUEST_ID_HEADER,
                               metadata={"description": REQUEST_ID_DESCRIPTION, "example": REQUEST_ID_EXAMPLE})


class ListingHeaders(OptionalRequestIdHeader):
    # Read by werkzeug in the view (rest_api.conditional); declared here to be documented.
    if_none_match = fields.String(data_key="If-None-Match", metadata={
        "description": "The ETag of a listing already held: answered 304 without a body while it is unchanged."})


# Path schemas are loaded with as_kwargs: their field names replace Flask's raw string view arguments.
class RealtyPath(ma.Schema):
    realtyId = CanonicalUUID(required=True, metadata={"description": "Unique realty identifier in UUID format."})


class RealtyImagePath(RealtyPath):
    realtyImageId = CanonicalUUID(required=True, metadata={"description": "ID of the realty image."})


class GrantQuery(ma.Schema):
    # The accepted types are listed for the docs only: the core decides and answers 415 for others.
    content_type = fields.String(data_key="type", required=True, metadata={
        "description": "Content type of the image that is going to be uploaded.",
        "enum": list(ACCEPTED_UPLOAD_TYPES), "example": "image/png"})


# --- request bodies ---------------------------------------------------------------------------

class UploadedImageSchema(ma.Schema):
    # Lengths are the core's rules (core.input_rules), documented here from its constants.
    key = fields.String(required=True, metadata={"description": "The `key` field of the upload grant."})
    description = fields.String(allow_none=True, metadata={"maxLength": MAX_DESCRIPTION_LENGTH})
    original_file_name = fields.String(data_key="originalFileName", allow_none=True,
                                       metadata={"maxLength": MAX_NAME_LENGTH})
    category = Category()
    hero = StrictBoolean()

    @ma.post_load
    def _to_core(self, data: dict, **kwargs: Any) -> UploadedImage:
        return UploadedImage(key=data["key"], description=data.get("description"),
                             original_file_name=data.get("original_file_name"), category=data.get("category"),
                             hero=data.get("hero", False))


class SaveImagesRequest(ma.Schema):
    uploaded_images = BoundedList(fields.Nested(UploadedImageSchema), data_key="uploadedImages", required=True,
                                  validate=validate.Length(min=1, max=MAX_IMAGES_PER_REALTY))


class ImageUpdateSchema(ma.Schema):
    realty_image_id = CanonicalUUID(data_key="realtyImageId", required=True)
    description = fields.String(allow_none=True, metadata={
        "description": "Absent: left as it is; null: cleared.", "maxLength": MAX_DESCRIPTION_LENGTH})
    category = Category(metadata={"description": "Absent: left as it is; null: cleared."})
    hero = StrictBoolean(metadata={"description": "Absent: left as it is."})

    @ma.post_load
    def _to_core(self, data: dict, **kwargs: Any) -> ImageChange:
        return ImageChange.as_given(data.pop("realty_image_id"), data)


class UpdateImagesRequest(ma.Schema):
    realty_images = BoundedList(fields.Nested(ImageUpdateSchema), data_key="realtyImages", required=True,
                                validate=validate.Length(min=1, max=MAX_IMAGES_PER_REALTY), metadata={
                                    "description": "Exactly the realty's current images, in the new order."})


class CopyImagesRequest(ma.Schema):
    source_realty_id = CanonicalUUID(data_key="sourceRealtyId", required=True,
                                     metadata={"description": "Identifier for the realty whose images are copied."})


class PublicationRequest(ma.Schema):
    # Bounded like every list of the API: a realty never holds more, and each id is looked up.
    realty_image_ids = BoundedList(CanonicalUUID(), data_key="realtyImageIds",
                                   validate=validate.Length(max=MAX_IMAGES_PER_REALTY), metadata={
        "description": "The images to change; absent (or no body at all): every image of the realty."})


# --- responses --------------------------------------------------------------------------------
# Dumped from dicts the views build with these exact (contract) keys.

class RenditionSchema(ma.Schema):
    url = fields.String(required=True, metadata={"description": "Time-limited signed download URL."})
    width = fields.Integer(required=True)
    height = fields.Integer(required=True)
    contentType = fields.String(required=True)


class RenditionsSchema(ma.Schema):
    thumbnail = fields.Nested(RenditionSchema)
    web = fields.Nested(RenditionSchema)
    large = fields.Nested(RenditionSchema)
    thumbnailWebp = fields.Nested(RenditionSchema)
    webWebp = fields.Nested(RenditionSchema)
    largeWebp = fields.Nested(RenditionSchema)


class QualitySchema(ma.Schema):
    width = fields.Integer(required=True, metadata={"description": "As displayed (EXIF orientation applied)."})
    height = fields.Integer(required=True)
    sharpness = fields.Float(required=True, metadata={
        "description": "Variance of the Laplacian of the luma, on the rendition of at most 1280 px."})
    brightness = fields.Float(required=True, metadata={"description": "Mean luma, 0-255."})
    darkFraction = fields.Float(required=True, metadata={"description": "Share of pixels clipped dark."})
    brightFraction = fields.Float(required=True, metadata={"description": "Share of pixels blown out."})
    issues = fields.List(fields.String(metadata={"enum": [i.value for i in QualityIssue]}), required=True)


class ChannelReadinessSchema(ma.Schema):
    channel = fields.String(required=True)
    ready = fields.Boolean(required=True)
    reasons = fields.List(fields.String(), required=True, metadata={
        "description": "What to change for the channel to take the photo, e.g. '1024×683 needed, this is 800×533'."})


class DuplicateSchema(ma.Schema):
    realtyId = fields.UUID(required=True)
    realtyImageId = fields.UUID(required=True)
    distance = fields.Integer(required=True, metadata={"description": "Bits between the perceptual hashes."})
    identical = fields.Boolean(required=True, metadata={"description": "The same bytes (same imageHash)."})


class RealtyImageSchema(ma.Schema):
    realtyImageId = fields.UUID(required=True)
    description = fields.String(allow_none=True, required=True)
    originalFileName = fields.String(allow_none=True, required=True)
    contentType = fields.String(required=True)
    width = fields.Integer(required=True)
    height = fields.Integer(required=True)
    fileSize = fields.Integer(required=True)
    imageHash = fields.String(required=True, metadata={"description": "MD5 hex digest of the stored bytes."})
    url = fields.String(required=True, metadata={
        "description": "Time-limited signed URL that downloads the original with no further credential."})
    category = Category(required=True)
    hero = fields.Boolean(required=True)
    published = fields.Boolean(required=True)
    creationTime = fields.DateTime(required=True)
    modificationTime = fields.DateTime(required=True)
    graphqlId = fields.String(allow_none=True, required=True, metadata={"description": "The image's GraphQL id."})
    renditions = fields.Nested(RenditionsSchema, required=True, metadata={
        "description": "Finished renditions only: empty while `processing` is PENDING (or FAILED)."})
    processing = fields.String(required=True, metadata={
        "enum": [p.value for p in Processing],
        "description": "PENDING until the renditions are made (by a job, after the save), then READY; FAILED "
                       "when the image cannot be rendered, with the reason in `processingError`."})
    processingError = fields.String(allow_none=True, required=True, metadata={
        "description": "Why processing FAILED, in words a person can act on; null otherwise."})
    perceptualHash = fields.String(allow_none=True, required=True, metadata={
        "description": "64-bit perceptual hash, 16 hex digits; null until processed."})
    blurhash = fields.String(allow_none=True, required=True, metadata={
        "description": "A blurhash placeholder to paint while the image loads; null until processed."})
    quality = fields.Nested(QualitySchema, allow_none=True, required=True, metadata={
        "description": "Measured values and issues (BLURRY, DARK, OVEREXPOSED, LOW_RESOLUTION); null until processed."})
    channels = fields.List(fields.Nested(ChannelReadinessSchema), required=True, metadata={
        "description": "Whether each listing channel would take the photo, and why not; empty until processed."})
    duplicates = fields.List(fields.Nested(DuplicateSchema), metadata={
        "description": "The org's other images of the same photo (perceptual hash within DUPLICATE_DISTANCE bits, "
                       "or the same bytes), the 20 nearest. In listings and save answers; not in events."})


class RealtyImagesSchema(ma.Schema):
    realtyImages = fields.List(fields.Nested(RealtyImageSchema), required=True)


class UploadGrantSchema(ma.Schema):
    url = fields.String(required=True, metadata={"description": "Where to POST the multipart form."})
    method = fields.String(required=True, metadata={"enum": ["POST"]})
    fields_ = fields.Dict(keys=fields.String(), values=fields.String(), data_key="fields", attribute="fields",
                          required=True, metadata={"description": "Form fields to send before the `file` part."})
    expiresAt = fields.DateTime(required=True)


class EmptySchema(ma.Schema):
    """The contract's `{}` success body."""


# --- errors -----------------------------------------------------------------------------------

class FieldErrorSchema(ma.Schema):
    target = fields.String(required=True, metadata={"description": "What the error is about: a field path, "
                                                                   "a parameter, or an upload key."})
    errorCode = fields.String(required=True, metadata={
        "description": "VALUE_REQUIRED, INVALID_TYPE, INVALID_ID or BAD_REQUEST_BODY / BAD_REQUEST_PARAMETERS."})
    message = fields.String(required=True)


class ErrorSchema(ma.Schema):
    errorCode = fields.String(required=True, metadata={"description": (
        "BAD_REQUEST_PARAMETERS, BAD_REQUEST_BODY or INVALID_STATUS (400), UNAUTHORIZED (401), INVALID_ID (404), "
        "METHOD_NOT_ALLOWED (405), CONFLICT (409: a concurrent change won, retry), ALREADY_DONE (409: a retried "
        "write was done, its answer too large to keep), CURSOR_EXPIRED (410), PAYLOAD_TOO_LARGE (413), "
        "UNSUPPORTED_MEDIA_TYPE (415), TECHNICAL_ERROR (500), SERVICE_UNAVAILABLE (503).")})
    message = fields.String(required=True)
    description = fields.String()
    errors = fields.List(fields.Nested(FieldErrorSchema))
