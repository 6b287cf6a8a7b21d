"""The Realty Image API 2.0 operations (CONTRACT §3): parse, call the core, serialize.

Each operation checks, in this order: the bearer token (before_request), the Request-ID header, the
path ids, then the query or body. Decorators run outermost first, so their order below is that order.
"""
from __future__ import annotations

from typing import Any
from uuid import UUID

from flask import Response
from flask.views import MethodView

from core.errors import GatewayError
from core.ports import Authenticator
from core.api import CoreApi
from core.commands import CopyImages, DeleteImage, IssueGrant, SaveUploads, SetPublished, UpdateImages
from rest_api import presenters
from rest_api.auth import authenticate_request, current_caller
from rest_api.conditional import LISTING_ETAG, Listings
from rest_api.documenting import COMMON_ERRORS, ECHOED_REQUEST_ID, documents_errors
from rest_api.errors import core_error_response
from rest_api.idempotency import once_per_request_id
from rest_api.parsing import RestBlueprint, limit_request_body
from rest_api.schemas import (
    REQUEST_ID_HEADER, CopyImagesRequest, EmptySchema, GrantQuery, ListingHeaders, PublicationRequest,
    RealtyImagePath, RealtyImagesSchema, RealtyPath, RequestIdHeader, SaveImagesRequest, UpdateImagesRequest,
    UploadGrantSchema,
)

_REALTY_ERRORS = (*COMMON_ERRORS, 404, 409)
_BODY_ERRORS = (*_REALTY_ERRORS, 413, 415)


def create_blueprints(core: CoreApi, authenticator: Authenticator) -> list[RestBlueprint]:
    images = RestBlueprint("Realty Images", __name__, description=(
        "API endpoints for realty images management including uploading images. An upload starts with "
        "GET /uploadGrants, continues with a multipart POST of the grant's fields and a `file` part to the "
        "grant's url, and ends with POST /realty/{realtyId}/images."))
    copying = RestBlueprint("Copying Realty Images", __name__,
                            description="API for copying realty images from one realty to another.")
    for blp in (images, copying):
        blp.before_request(limit_request_body)
        blp.before_request(authenticate_request(authenticator))
        # Core errors are translated here, for REST routes only: GraphQL reports them its own way.
        blp.register_error_handler(GatewayError, core_error_response)
    bus, views = core.bus, core.views
    urls = views.urls
    listings = Listings()
    once = once_per_request_id(core.writes)  # every write: a retry with its Request-ID gets the first answer

    @images.route("/uploadGrants", methods=["GET"])
    @images.arguments(RequestIdHeader, location="headers", as_kwargs=True)
    @images.arguments(GrantQuery, location="query", as_kwargs=True)
    @images.response(200, UploadGrantSchema, headers=ECHOED_REQUEST_ID)
    @documents_errors(images, (*COMMON_ERRORS, 415))
    def upload_grant(content_type: str) -> dict[str, Any]:
        """Get short-lived grant for uploading realty image

        The response is a presigned POST: send `fields` and then the file as a part named `file`, as
        `multipart/form-data`, to `url`. Then save the image with POST /realty/{realtyId}/images.
        """
        return presenters.upload_grant(bus.handle(IssueGrant(current_caller(), content_type)))

    @images.route("/realty/<uuid_segment:realtyId>/images")
    class RealtyImages(MethodView):
        @images.arguments(ListingHeaders, location="headers", as_kwargs=True)
        @images.arguments(RealtyPath, location="path", as_kwargs=True)
        @images.response(200, RealtyImagesSchema, headers={**ECHOED_REQUEST_ID, **LISTING_ETAG})
        @images.alt_response(304, description="Not Modified: the listing is still the one If-None-Match names. "
                                              "No body.", headers={**ECHOED_REQUEST_ID, **LISTING_ETAG})
        @documents_errors(images, (*COMMON_ERRORS, 404))
        def get(self, realtyId: UUID) -> Response:
            """Fetch realty images

            Metadata of the realty's images, in the realty's order. The answer carries an ETag; asked
            again with it in If-None-Match, the answer is 304 without a body while the listing is
            unchanged. Within a signing window (15 minutes by default) an unchanged listing is
            byte-identical, signed URLs included, so browsers and CDNs can cache the images.
            """
            caller = current_caller()
            realty = views.realty(caller, realtyId)
            # Duplicates live in other realties too: read each time, and part of what the answer is keyed by.
            duplicates = views.duplicates(caller, realty.images)
            key = (caller.org, realty.uuid, realty.version, views.url_generation(),
                   tuple((image, tuple(found)) for image, found in duplicates.items()))
            return listings.answer(key, caller.org,
                                   lambda: presenters.image_list_json(realty.images, urls, duplicates))

        @once
        @images.arguments(RequestIdHeader, location="headers", as_kwargs=True)
        @images.arguments(RealtyPath, location="path", as_kwargs=True)
        @images.arguments(SaveImagesRequest)
        @images.response(201, RealtyImagesSchema, headers=ECHOED_REQUEST_ID)
        @documents_errors(images, _BODY_ERRORS)
        def post(self, body: dict[str, Any], realtyId: UUID) -> dict[str, Any]:
            """Save realty images using uploaded files

            Every key must come from a grant issued to the caller's organisation and hold an image of the
            granted type. The images are added after the existing ones, in request order; at most 200 per
            realty. If any item fails, none is saved and `errors[].target` names the failing keys.
            """
            caller = current_caller()
            saved = bus.handle(SaveUploads(caller, realtyId, body["uploaded_images"]))
            return presenters.image_list(saved, urls, views.duplicates(caller, saved))

        @once
        @images.arguments(RequestIdHeader, location="headers", as_kwargs=True)
        @images.arguments(RealtyPath, location="path", as_kwargs=True)
        @images.arguments(UpdateImagesRequest)
        @images.response(200, EmptySchema, headers=ECHOED_REQUEST_ID)
        @documents_errors(images, _BODY_ERRORS)
        def put(self, body: dict[str, Any], realtyId: UUID) -> dict[str, Any]:
            """Updates metadata for realty's images

            The array names exactly the realty's current images; the realty's order becomes the array's.
            An absent field is left unchanged; `null` clears description or category.
            """
            bus.handle(UpdateImages(current_caller(), realtyId, body["realty_images"], reorder=True))
            return {}

    @images.route("/realty/<uuid_segment:realtyId>/images/<image_id_segment:realtyImageId>", methods=["DELETE"])
    @once
    @images.arguments(RequestIdHeader, location="headers", as_kwargs=True)
    @images.arguments(RealtyImagePath, location="path", as_kwargs=True)
    @images.response(200, EmptySchema, headers=ECHOED_REQUEST_ID)
    @documents_errors(images, _REALTY_ERRORS)
    def delete_image(realtyId: UUID, realtyImageId: UUID) -> dict[str, Any]:
        """Deletes a realty image

        A published image cannot be deleted (400 INVALID_STATUS): unpublish it first.
        """
        bus.handle(DeleteImage(current_caller(), realtyImageId, realty_ref=realtyId))
        return {}

    @images.route("/realty/<uuid_segment:realtyId>/images/publish", methods=["POST"])
    @once
    @images.arguments(RequestIdHeader, location="headers", as_kwargs=True)
    @images.arguments(RealtyPath, location="path", as_kwargs=True)
    @images.arguments(PublicationRequest, required=False)
    @images.response(200, EmptySchema, headers=ECHOED_REQUEST_ID)
    @documents_errors(images, _BODY_ERRORS)
    def publish_images(body: dict[str, Any], realtyId: UUID) -> dict[str, Any]:
        """Publishes realty images

        Publishes the listed images, or every image of the realty when `realtyImageIds` (or the whole
        body) is absent. A published image cannot be deleted.
        """
        bus.handle(SetPublished(current_caller(), realtyId, body.get("realty_image_ids"), True))
        return {}

    @images.route("/realty/<uuid_segment:realtyId>/images/unpublish", methods=["POST"])
    @once
    @images.arguments(RequestIdHeader, location="headers", as_kwargs=True)
    @images.arguments(RealtyPath, location="path", as_kwargs=True)
    @images.arguments(PublicationRequest, required=False)
    @images.response(200, EmptySchema, headers=ECHOED_REQUEST_ID)
    @documents_errors(images, _BODY_ERRORS)
    def unpublish_images(body: dict[str, Any], realtyId: UUID) -> dict[str, Any]:
        """Unpublishes realty images

        Unpublishes the listed images, or every image of the realty when `realtyImageIds` (or the whole
        body) is absent.
        """
        bus.handle(SetPublished(current_caller(), realtyId, body.get("realty_image_ids"), False))
        return {}

    @copying.route("/realty/<uuid_segment:realtyId>/images/copy", methods=["POST"])
    @once
    @copying.arguments(RequestIdHeader, location="headers", as_kwargs=True)
    @copying.arguments(RealtyPath, location="path", as_kwargs=True)
    @copying.arguments(CopyImagesRequest)
    @copying.response(200, EmptySchema, headers=ECHOED_REQUEST_ID)
    @documents_errors(copying, _BODY_ERRORS)
    def copy_images(body: dict[str, Any], realtyId: UUID) -> dict[str, Any]:
        """Copies realty images

        Copies the source realty's images and their metadata to the end of this realty, with new ids and
        their own stored files, in the source's order. The copies are not published.
        """
        bus.handle(CopyImages(current_caller(), realtyId, body["source_realty_id"]))
        return {}

    return [images, copying]
