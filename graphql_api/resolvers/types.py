"""Object types, the Node interface, enums and scalars."""
from __future__ import annotations

from datetime import datetime

from ariadne import EnumType, InterfaceType, ObjectType, ScalarType
from werkzeug.datastructures import FileStorage

from core.domain import Image, ImageCategory, ImageType, ModerationStatus, Processing, Realty, Room
from core.image_documents import duplicate_item, photo_fields
from graphql_api import ids

node = InterfaceType("Node")
property_type = ObjectType("Property")
room_type = ObjectType("Room")
image_type = ObjectType("Image")
rendition_type = ObjectType("Rendition")

upload_scalar = ScalarType("Upload")
datetime_scalar = ScalarType("DateTime")


@node.type_resolver
def resolve_node_type(obj, *_):
    if isinstance(obj, Realty):
        return "Property"
    if isinstance(obj, Room):
        return "Room"
    if isinstance(obj, Image):
        return "Image"
    return None


# --- scalars ---------------------------------------------------------------------------------

@upload_scalar.serializer
def _serialize_upload(_value):
    raise ValueError("Upload can only be an input")


@upload_scalar.literal_parser
def _parse_upload_literal(*_):
    raise ValueError("An Upload is sent as a multipart file part mapped to a variable, never inline")


@upload_scalar.value_parser
def _parse_upload_value(value):
    if not isinstance(value, FileStorage):
        raise ValueError("An Upload variable must be null in `operations` and mapped to a file part by `map`")
    return value


@datetime_scalar.serializer
def _serialize_datetime(value: datetime) -> str:
    return value.isoformat()


# --- Property ----------------------------------------------------------------------------------

@property_type.field("id")
def resolve_property_id(realty: Realty, _info):
    return ids.encode(ids.PROPERTY, realty.id)


@property_type.field("realtyId")
def resolve_property_realty_id(realty: Realty, _info):
    return str(realty.uuid)


property_type.set_alias("externalId", "external_id")
property_type.set_alias("createdAt", "created_at")


@property_type.field("images")
def resolve_property_images(realty: Realty, info):
    info.context.loaders.prime(realty)
    return realty.images


@property_type.field("imageCount")
def resolve_property_image_count(realty: Realty, _info):
    return len(realty.images)


@property_type.field("hero")
def resolve_property_hero(realty: Realty, info):
    info.context.loaders.prime(realty)
    return realty.hero


@property_type.field("rooms")
def resolve_property_rooms(realty: Realty, info):
    info.context.loaders.prime(realty)
    return info.context.loaders.rooms(realty.uuid)


# --- Room ----------------------------------------------------------------------------------------

@room_type.field("id")
def resolve_room_id(room: Room, _info):
    return ids.encode(ids.ROOM, room.id)


room_type.set_alias("createdAt", "created_at")


@room_type.field("property")
def resolve_room_property(room: Room, info):
    return info.context.loaders.realty(room.realty_uuid)


@room_type.field("images")
def resolve_room_images(room: Room, info):
    realty = info.context.loaders.realty(room.realty_uuid)
    return [i for i in realty.images if i.room_id == room.id] if realty else []


# --- Image ---------------------------------------------------------------------------------------

@image_type.field("id")
def resolve_image_id(image: Image, info):
    number = info.context.loaders.image_id(image)
    if number is None:
        raise RuntimeError(f"image {image.uuid} has no numeric id")
    return ids.encode(ids.IMAGE, number)


@image_type.field("realtyImageId")
def resolve_image_realty_image_id(image: Image, _info):
    return str(image.uuid)


@image_type.field("active")
def resolve_image_active(image: Image, _info):
    return image.published


@image_type.field("url")
def resolve_image_url(image: Image, info):
    return info.context.loaders.url(image.storage_key)


@image_type.field("property")
def resolve_image_property(image: Image, info):
    return info.context.loaders.realty(image.realty_uuid)


@image_type.field("room")
def resolve_image_room(image: Image, info):
    if image.room_id is None:
        return None
    return info.context.loaders.room(image.room_id, image.realty_uuid)


for graphql_name, attribute in {
    "imageHash": "md5", "originalFileName": "original_file_name", "size": "file_size",
    "contentType": "content_type", "createdAt": "created_at", "modifiedAt": "modified_at",
    "processingError": "processing_error",
}.items():
    image_type.set_alias(graphql_name, attribute)

@image_type.field("perceptualHash")
def resolve_image_perceptual_hash(image: Image, _info):
    return image.checks.perceptual_hash_hex if image.checks else None


@image_type.field("blurhash")
def resolve_image_blurhash(image: Image, _info):
    return image.checks.blurhash if image.checks else None


@image_type.field("quality")
def resolve_image_quality(image: Image, _info):
    return photo_fields(image)["quality"]


@image_type.field("channels")
def resolve_image_channels(image: Image, _info):
    return photo_fields(image)["channels"]


@image_type.field("duplicates")
def resolve_image_duplicates(image: Image, info):
    return [duplicate_item(d) for d in info.context.loaders.duplicates(image)]


# --- Rendition -----------------------------------------------------------------------------------


@rendition_type.field("url")
def resolve_rendition_url(rendition, info):
    return info.context.loaders.url(rendition.storage_key)


rendition_type.set_alias("contentType", "content_type")

bindables = [
    node, property_type, room_type, image_type, rendition_type, upload_scalar, datetime_scalar,
    EnumType("ImageType", ImageType), EnumType("ImageCategory", ImageCategory),
    EnumType("ImageStatus", ModerationStatus), EnumType("ImageProcessing", Processing),
]
