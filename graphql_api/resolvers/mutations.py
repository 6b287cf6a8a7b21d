"""Mutations. Each one decodes its ids, hands one command to the core, and shapes the payload.

An id that is malformed, missing or another org's is the same error: `input.<field> is not exist`
(the GraphQL source's message), NOT_FOUND.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Sequence
from uuid import UUID

from ariadne import MutationType

from core.domain import MAX_IMAGES_PER_REALTY, ImageCategory, ImageChange, ImageKind, ImageRef, Realty
from core.errors import InvalidInput, NotFound, UploadRejected
from core.commands import (
    CopyImages, CreateProperty, CreateRoom, DeleteImage, DirectUpload, SetPublished, UpdateImage, UpdateImages,
    UploadImage,
)
from graphql_api import ids
from graphql_api.errors import not_exist

MAX_IDS_PER_LIST = MAX_IMAGES_PER_REALTY

mutation = MutationType()


# --- properties and rooms ----------------------------------------------------------------------

@mutation.field("createProperty")
def resolve_create_property(_root, info, input: dict[str, Any]):
    ctx = info.context
    realty = ctx.handle(CreateProperty(ctx.caller, input["name"], input.get("externalId")))
    return {"property": _fresh(ctx, realty)}


@mutation.field("createRoom")
def resolve_create_room(_root, info, input: dict[str, Any]):
    ctx = info.context
    ref = _realty_ref(input["propertyId"], "propertyId")
    with missing_as("propertyId"):
        room = ctx.handle(CreateRoom(ctx.caller, ref, input["name"]))
    ctx.loaders.clear()
    return {"room": room}


# --- uploads -------------------------------------------------------------------------------------

@mutation.field("createPropertyImage")
def resolve_create_property_image(_root, info, input: dict[str, Any]):
    ref = _realty_ref(input["propertyId"], "propertyId")
    return _upload(info.context, ref, input, "propertyId", kind=ImageKind.PROPERTY, category=input["category"])


@mutation.field("createRoomImage")
def resolve_create_room_image(_root, info, input: dict[str, Any]):
    number = ids.decode(input["roomId"], ids.ROOM)
    if number is None:
        raise not_exist("roomId")
    # The core finds the room, and through it the property, in the same read.
    return _upload(info.context, None, input, "roomId", kind=ImageKind.ROOM, category=ImageCategory.ROOM,
                   room_id=number)


@mutation.field("createFloorPlanImage")
def resolve_create_floor_plan_image(_root, info, input: dict[str, Any]):
    ref = _realty_ref(input["propertyId"], "propertyId")
    return _upload(info.context, ref, input, "propertyId", kind=ImageKind.FLOOR_PLAN)


def _upload(ctx, realty_ref: UUID | int | None, input: dict[str, Any], id_field: str,
            **placement: Any) -> dict[str, Any]:
    """The shared tail of the create*Image mutations: read the file part and hand it to the core."""
    data, filename = _read_upload(input["file"], ctx.max_file_bytes)
    upload = DirectUpload(data=data, filename=filename, hero=bool(input.get("hero")),
                          description=input.get("description"), **placement)
    with missing_as(id_field):
        image = ctx.handle(UploadImage(ctx.caller, realty_ref, upload))
    ctx.loaders.clear()
    return {"image": image}


# --- changing images -------------------------------------------------------------------------------

@mutation.field("updateImage")
def resolve_update_image(_root, info, input: dict[str, Any]):
    ctx = info.context
    ref = _image_ref(input["id"], "id")
    change = ImageChange.as_given(ref, {name: input[name] for name in ("description", "category", "hero")
                                        if name in input})
    with missing_as("id"):
        image = ctx.handle(UpdateImage(ctx.caller, change))
    ctx.loaders.clear()
    return {"image": image}


@mutation.field("deleteImage")
def resolve_delete_image(_root, info, input: dict[str, Any]):
    ctx = info.context
    ref = _image_ref(input["id"], "id")
    with missing_as("id"):
        ctx.handle(DeleteImage(ctx.caller, ref))
    ctx.loaders.clear()
    return {"success": True}


@mutation.field("reorderImages")
def resolve_reorder_images(_root, info, input: dict[str, Any]):
    ctx = info.context
    realty = _realty(ctx, input["propertyId"], "propertyId")
    refs = _image_refs(input["imageIds"], realty, "imageIds")
    with missing_as("propertyId"):
        realty = ctx.handle(UpdateImages(ctx.caller, realty.uuid, [ImageChange(ref=r) for r in refs], reorder=True))
    return {"property": _fresh(ctx, realty)}


@mutation.field("copyImages")
def resolve_copy_images(_root, info, input: dict[str, Any]):
    ctx = info.context
    source = _realty_ref(input["sourcePropertyId"], "sourcePropertyId")
    # The target may be a realty UUID nobody has written yet (it comes into being, as over REST),
    # or the global id of an existing property.
    target_uuid = ids.parse_uuid(input["targetPropertyId"])
    if target_uuid is None:
        target_uuid = _realty(ctx, input["targetPropertyId"], "targetPropertyId").uuid
    try:
        copies = ctx.handle(CopyImages(ctx.caller, target_uuid, source))
    except NotFound as exc:
        if any(e.target == "source" for e in exc.errors):
            raise not_exist("sourcePropertyId") from None
        raise not_exist("targetPropertyId") from None
    ctx.loaders.clear()
    # The copies are done and committed: they are the answer. The target is read only for the `property`
    # field, so a database gone meanwhile costs that field alone, and the answer still says the copy was
    # done (answered again to a retry, never done twice; graphql_api/idempotency.py).
    return {"property": lambda *_: ctx.loaders.realty(target_uuid), "images": copies}


@mutation.field("publishImages")
def resolve_publish_images(_root, info, input: dict[str, Any]):
    return _set_published(info.context, input, True)


@mutation.field("unpublishImages")
def resolve_unpublish_images(_root, info, input: dict[str, Any]):
    return _set_published(info.context, input, False)


def _set_published(ctx, input: dict[str, Any], published: bool):
    realty = _realty(ctx, input["propertyId"], "propertyId")
    image_ids = input.get("imageIds")
    refs = None if image_ids is None else _image_refs(image_ids, realty, "imageIds")
    with missing_as("propertyId"):
        realty = ctx.handle(SetPublished(ctx.caller, realty.uuid, refs, published))
    return {"property": _fresh(ctx, realty)}


# --- helpers -------------------------------------------------------------------------------------

def _fresh(ctx, realty: Realty) -> Realty:
    """After a change: forget what this request read before, remember the realty as it now is."""
    ctx.loaders.clear()
    return ctx.loaders.prime(realty)


def _realty_ref(value: str, field: str) -> UUID | int:
    ref = ids.realty_ref(value)
    if ref is None:
        raise not_exist(field)
    return ref


def _realty(ctx, value: str, field: str) -> Realty:
    realty = ctx.loaders.realty(_realty_ref(value, field))
    if realty is None:
        raise not_exist(field)
    return realty


def _image_ref(value: str, field: str) -> ImageRef:
    ref = ids.image_ref(value)
    if ref is None:
        raise not_exist(field)
    return ref


def _image_refs(values: Sequence[str], realty: Realty, field: str) -> list[ImageRef]:
    """Image ids of this realty; an id that is not one of its images is `input.<field>[i] is not exist`."""
    if len(values) > MAX_IDS_PER_LIST:
        raise InvalidInput(f"input.{field} may hold at most {MAX_IDS_PER_LIST} ids, got {len(values)}")
    known = {i.uuid for i in realty.images} | {i.id for i in realty.images}
    refs = []
    for index, value in enumerate(values):
        ref = ids.image_ref(value)
        if ref is None or ref not in known:
            raise not_exist(f"{field}[{index}]")
        refs.append(ref)
    return refs


@contextmanager
def missing_as(field: str) -> Iterator[None]:
    """The core's NotFound as the GraphQL source reports it: `input.<field> is not exist`."""
    try:
        yield
    except NotFound:
        raise not_exist(field) from None


def _read_upload(upload, max_bytes: int) -> tuple[bytes, str | None]:
    """The bytes and the client's file name of an uploaded file part."""
    stream = upload.stream
    stream.seek(0)
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UploadRejected(f"The file is larger than the limit of {max_bytes} bytes")
    return data, upload.filename  # made a plain file name by the core
