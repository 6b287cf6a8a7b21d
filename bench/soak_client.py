"""One soak client: an agent of one org writing and reading over both APIs until told to stop.

Each client owns a few realties (one saved over REST first, others made by GraphQL `createProperty`)
whose state it knows exactly (bench.soak_model), and shares its org's hot realty with the org's other
clients, where writes race: saves and uploads against the 200 cap, deletes against deletes, one new
hero against another. Each step picks a realty and an operation at random, over REST or GraphQL.

Whatever a client is told it records in the tally: every status, the images each acknowledged write
made or deleted (so the end can tell an image made twice or lost), and at once every read that
disagrees with what its own writes were told.
"""
from __future__ import annotations

import hashlib
import itertools
import logging
import random
import threading
import time
import uuid
from typing import Callable

from bench.soak_api import RETRY_FOR, Api, Reply, Upload, photo
from bench.soak_gql import COPY, CREATE_IMAGE, CREATE_PROPERTY, DELETE, IMAGE, PROPERTY, PUBLISH, REORDER, \
    UNPUBLISH, UPDATE
from bench.soak_model import Item, RealtyModel
from bench.soak_tally import Tally

log = logging.getLogger("soak.clients")

CATEGORIES = ["BUILDING_EXTERIOR", "COMMON_INDOOR_SPACES", "COMMON_OUTDOOR_SPACES", "GENERAL", "ROOM", "SPECIFIC",
              "MAP"]
CONTENT_TYPES = {"image/jpeg": (7, "jpg"), "image/png": (2, "png"), "image/webp": (1, "webp")}
OWN_MAX = 30
"""Own realties stay far below the cap: a refusal there would then be the gateway's fault."""
OWN_REALTIES = 4
HOT_SHARE = 0.3
"""Share of steps on the org's hot realty."""
OWN_WEIGHTS = {"save": 10, "upload": 8, "listing": 12, "query": 6, "put": 5, "reorder": 3, "update": 5, "publish": 5,
               "unpublish": 4, "delete": 10, "copy": 4, "create_property": 1}
HOT_WEIGHTS = {"save": 8, "upload": 6, "copy": 2, "delete": 6, "listing": 4, "query": 3, "publish": 2, "unpublish": 3,
               "update": 3, "put": 1, "reorder": 1}
HOT_FULL = 190
"""From this many images on, half the saves on a hot realty become deletes: it hovers at the cap, where
racing saves must still stop at 200."""


class Client:
    def __init__(self, name: str, api: Api, tally: Tally, hot: RealtyModel, stop: threading.Event) -> None:
        self.name = name
        self.api = api
        self.tally = tally
        self.hot = hot
        self.stop = stop
        self.rnd = random.Random(name)
        self.own: list[RealtyModel] = []
        self._labels = itertools.count()
        self._hot_size = 0

    def run(self) -> None:
        first = RealtyModel(str(uuid.uuid4()))
        self.own.append(first)
        for _ in range(5):  # the first save makes the realty: GraphQL calls on it would be refused before
            self._guarded(self.save, first)
            if first.order or first.uncertain or self.stop.is_set():
                break
        self._guarded(self.create_property, first)
        while not self.stop.is_set():
            realty = self.hot if self.rnd.random() < HOT_SHARE else self.rnd.choice(self.own)
            weights = HOT_WEIGHTS if realty.shared else OWN_WEIGHTS
            name = self.rnd.choices(list(weights), weights=list(weights.values()))[0]
            self._guarded(getattr(self, name), realty)
            time.sleep(self.rnd.uniform(0.05, 0.5))

    def _guarded(self, op: Callable[[RealtyModel], None], realty: RealtyModel) -> None:
        # A bench bug (or an answer of a shape the contract does not allow) must not end the client.
        try:
            op(realty)
        except Exception:  # noqa: BLE001
            self.tally.note("bench errors (see soak.log)")
            log.exception("%s: %s on %s", self.name, op.__name__, realty.uuid)

    # --- creating ----------------------------------------------------------------------------------

    def save(self, r: RealtyModel) -> None:
        if self._too_big(r):
            return self.delete(r)
        uploads = self._uploads(self.rnd.randint(1, 4))
        if not uploads:
            return
        hero_at = self.rnd.randrange(len(uploads)) if self.rnd.random() < 0.2 else None
        items = [{"key": u.key, "description": self._text(), "originalFileName": u.name,
                  "category": self.rnd.choice(CATEGORIES), "hero": n == hero_at} for n, u in enumerate(uploads)]
        key = str(uuid.uuid4())
        reply = self._write(r, "REST save", key, [u.md5 for u in uploads], lambda: self.api.rest(
            "REST save", "POST", f"/realty/{r.uuid}/images", key, json={"uploadedImages": items}))
        if reply and reply.ok:
            ids = [i["realtyImageId"] for i in reply.body["realtyImages"]]
            self.tally.made(ids, r.uuid, "REST save", key)
            r.appended(ids, ids[hero_at] if hero_at is not None else None)

    def upload(self, r: RealtyModel) -> None:
        if self._too_big(r):
            return self.delete(r)
        content_type, label = self._content_type(), self._label()
        data, hero = photo(content_type, label), self.rnd.random() < 0.2
        file = (f"{label}.{CONTENT_TYPES[content_type][1]}", data, content_type)
        variables = {"input": {"propertyId": self._pid(r), "category": self.rnd.choice(CATEGORIES), "hero": hero,
                               "description": self._text(), "file": None}}
        key = str(uuid.uuid4())
        md5s = [hashlib.md5(data).hexdigest()]
        reply = self._write(r, "GQL createPropertyImage", key, md5s, lambda: self.api.graphql(
            "GQL createPropertyImage", CREATE_IMAGE, variables, key, file))
        if reply and reply.ok:
            image_id = reply.body["data"]["createPropertyImage"]["image"]["realtyImageId"]
            self.tally.made([image_id], r.uuid, "GQL createPropertyImage", key)
            r.appended([image_id], image_id if hero else None)

    def copy(self, target: RealtyModel) -> None:
        sources = [o for o in self.own if o is not target and 0 < len(o) <= 15 and not o.uncertain]
        if not sources:
            return self.save(target)
        source = self.rnd.choice(sources)
        if not target.shared and len(target) + len(source) > 2 * OWN_MAX:
            return self.delete(target)
        if target.shared or self.rnd.random() < 0.5:
            self._copy_graphql(source, target)
        else:
            self._copy_rest(source, target)

    def _copy_graphql(self, source: RealtyModel, target: RealtyModel) -> None:
        key = str(uuid.uuid4())
        variables = {"input": {"sourcePropertyId": self._pid(source), "targetPropertyId": self._pid(target)}}
        reply = self._write(target, "GQL copyImages", key, [], lambda: self.api.graphql(
            "GQL copyImages", COPY, variables, key))
        if reply and reply.ok:
            copies = [i["realtyImageId"] for i in reply.body["data"]["copyImages"]["images"]]
            self._copied(source, target, copies, "GQL copyImages", key)

    def _copy_rest(self, source: RealtyModel, target: RealtyModel) -> None:
        # REST answers a copy with {}: the copies are what the target lists after the acknowledged ones.
        key = str(uuid.uuid4())
        reply = self._write(target, "REST copy", key, [], lambda: self.api.rest(
            "REST copy", "POST", f"/realty/{target.uuid}/images/copy", key, json={"sourceRealtyId": source.uuid}))
        if not (reply and reply.ok):
            return
        listed = self._read_until_listed(target)
        before = len(target)
        if listed is None or [i.image_id for i in listed[:before]] != target.order:
            self.tally.violation("agree", f"REST copy {key} into {target.uuid}: the listing after it does not "
                                          "start with the acknowledged images")
            target.uncertain = True
            return
        self._copied(source, target, [i.image_id for i in listed[before:]], "REST copy", key)

    def _copied(self, source: RealtyModel, target: RealtyModel, copies: list[str], via: str, key: str) -> None:
        if len(copies) != len(source):
            self.tally.violation("once", f"{via} {key}: {len(source)} images copied into {target.uuid} "
                                         f"made {len(copies)}")
            target.uncertain = True
        self.tally.made(copies, target.uuid, via, key)
        target.copied_from(source, copies)

    def create_property(self, r: RealtyModel) -> None:
        if len(self.own) >= OWN_REALTIES:
            return self.query(r)
        key = str(uuid.uuid4())
        variables = {"input": {"name": f"{self.name} property {len(self.own)}", "externalId": key}}
        reply = self._write(None, "GQL createProperty", key, [], lambda: self.api.graphql(
            "GQL createProperty", CREATE_PROPERTY, variables, key))
        if reply and reply.ok:
            made = reply.body["data"]["createProperty"]["property"]
            self.own.append(RealtyModel(made["realtyId"], property_id=made["id"]))

    # --- reading -----------------------------------------------------------------------------------

    def listing(self, r: RealtyModel) -> None:
        """The REST listing, with If-None-Match when an earlier one gave an ETag."""
        headers = {"If-None-Match": r.etag} if r.etag and not r.shared else {}
        reply = self.api.send("REST list", "GET", f"{self.api.base}/realty/{r.uuid}/images", headers=headers)
        if reply.status == 304 and r.etag_items != r.items() and not r.uncertain:
            self.tally.violation("agree", f"REST listing of {r.uuid}: 304 for an ETag read before an "
                                          "acknowledged change")
        elif reply.ok:
            self._compare(r, _rest_items(reply), "REST listing")
            r.etag, r.etag_items = reply.etag, r.items()

    def query(self, r: RealtyModel) -> None:
        reply = self.api.graphql("GQL property", PROPERTY, {"id": self._pid(r)})
        if not reply.ok:
            return
        found = reply.body["data"]["property"]
        if found is None:
            if not r.shared and not r.uncertain and len(r):
                self.tally.violation("agree", f"GraphQL property({r.uuid}) is null for a realty with images")
            return
        images = found["images"]
        if [i["position"] for i in images] != list(range(len(images))):
            self.tally.violation("positions", f"GraphQL property({r.uuid}) positions "
                                              f"{[i['position'] for i in images][:10]}...")
        self._compare(r, [Item(i["realtyImageId"], i["hero"], i["active"]) for i in images], "GraphQL property")
        if r.order and not r.shared and not r.uncertain:
            self._query_image(r, self.rnd.choice(r.order))

    def _query_image(self, r: RealtyModel, image_id: str) -> None:
        reply = self.api.graphql("GQL image", IMAGE, {"id": image_id})
        image = reply.body["data"]["image"] if reply.ok else None
        if reply.ok and (image is None or (image["hero"], image["active"]) != (
                image_id == r.hero, image_id in r.published)):
            self.tally.violation("agree", f"GraphQL image({image_id}) of {r.uuid} is {image}")

    def _compare(self, r: RealtyModel, items: list[Item], what: str) -> None:
        heroes = sum(i.hero for i in items)
        if heroes > 1:
            self.tally.violation("hero", f"{what} of {r.uuid} shows {heroes} heroes")
        if len(items) > 200:
            self.tally.violation("cap", f"{what} of {r.uuid} shows {len(items)} images")
        if r.shared:
            self._hot_size = len(items)
        difference = r.differences(items)
        if difference:
            self.tally.violation("agree", f"{what} of own realty {r.uuid}: {difference}")
            r.uncertain = True  # one report, not one per later read

    def _listed(self, r: RealtyModel) -> list[Item] | None:
        """The realty's images: an own realty's from its model, the hot one's from a listing."""
        if not r.shared:
            return r.items()
        reply = self.api.send("REST list", "GET", f"{self.api.base}/realty/{r.uuid}/images")
        if not reply.ok:
            return None
        items = _rest_items(reply)
        self._compare(r, items, "REST listing")
        return items

    def _read_until_listed(self, r: RealtyModel) -> list[Item] | None:
        deadline = time.monotonic() + RETRY_FOR
        while time.monotonic() < deadline:
            reply = self.api.send("REST list", "GET", f"{self.api.base}/realty/{r.uuid}/images")
            if reply.ok:
                return _rest_items(reply)
            time.sleep(1.0)
        return None

    # --- changing ----------------------------------------------------------------------------------

    def put(self, r: RealtyModel) -> None:
        """REST PUT: the whole set in a new order, with new descriptions and maybe a new hero."""
        items = self._listed(r)
        if not items:
            return
        ids = [i.image_id for i in items]
        self.rnd.shuffle(ids)
        changes = [{"realtyImageId": i, "description": self._text()} for i in ids]
        hero_of, hero = None, None
        if self.rnd.random() < 0.4:
            hero_of, hero = self.rnd.choice(ids), self.rnd.random() < 0.8
            changes[ids.index(hero_of)]["hero"] = hero
        key = str(uuid.uuid4())
        reply = self._write(r, "REST put", key, [], lambda: self.api.rest(
            "REST put", "PUT", f"/realty/{r.uuid}/images", key, json={"realtyImages": changes}))
        if reply and reply.ok:
            r.reordered(ids, hero, hero_of)

    def reorder(self, r: RealtyModel) -> None:
        items = self._listed(r)
        if not items:
            return
        ids = [i.image_id for i in items]
        self.rnd.shuffle(ids)
        key = str(uuid.uuid4())
        reply = self._write(r, "GQL reorderImages", key, [], lambda: self.api.graphql(
            "GQL reorderImages", REORDER, {"input": {"propertyId": self._pid(r), "imageIds": ids}}, key))
        if reply and reply.ok:
            r.reordered(ids)

    def update(self, r: RealtyModel) -> None:
        items = self._listed(r)
        if not items:
            return
        target, hero = self.rnd.choice(items).image_id, self.rnd.choice([True, True, False, None])
        change = {"id": target, "description": self._text(), "category": self.rnd.choice(CATEGORIES)}
        if hero is not None:
            change["hero"] = hero
        key = str(uuid.uuid4())
        reply = self._write(r, "GQL updateImage", key, [], lambda: self.api.graphql(
            "GQL updateImage", UPDATE, {"input": change}, key))
        if reply and reply.ok:
            r.hero_set(target, hero)

    def publish(self, r: RealtyModel) -> None:
        self._publication(r, True)

    def unpublish(self, r: RealtyModel) -> None:
        self._publication(r, False)

    def _publication(self, r: RealtyModel, published: bool, ids: list[str] | None = None) -> bool:
        if ids is None:
            items = self._listed(r)
            if not items:
                return False
            chosen = [i.image_id for i in items if i.published != published]
            # All of them (no ids at all) only on an own realty: on the hot one it would stop every delete.
            ids = None if not r.shared and self.rnd.random() < 0.3 else self.rnd.sample(chosen, min(len(chosen), 3))
            if ids == []:
                return False
        verb, key = "publish" if published else "unpublish", str(uuid.uuid4())
        if self.rnd.random() < 0.5:
            kind, body = f"REST {verb}", {} if ids is None else {"realtyImageIds": ids}
            send = lambda: self.api.rest(kind, "POST", f"/realty/{r.uuid}/images/{verb}", key, json=body)  # noqa: E731
        else:
            kind, variables = f"GQL {verb}Images", {"input": {"propertyId": self._pid(r), "imageIds": ids}}
            send = lambda: self.api.graphql(kind, PUBLISH if published else UNPUBLISH, variables, key)  # noqa: E731
        reply = self._write(r, kind, key, [], send)
        if reply and reply.ok:
            r.publication(ids, published)
        return bool(reply and reply.ok)

    def delete(self, r: RealtyModel) -> None:
        items = self._listed(r)
        if not items:
            return
        candidates = [i.image_id for i in items if not i.published]
        if not candidates:  # a published image cannot be deleted: unpublish one first, as a person would
            target = self.rnd.choice(items).image_id
            if not self._publication(r, False, [target]):
                return
        else:
            target = self.rnd.choice(candidates)
        key = str(uuid.uuid4())
        if self.rnd.random() < 0.5:
            kind = "REST delete"
            send = lambda: self.api.rest(kind, "DELETE", f"/realty/{r.uuid}/images/{target}", key)  # noqa: E731
        else:
            kind = "GQL deleteImage"
            send = lambda: self.api.graphql(kind, DELETE, {"input": {"id": target}}, key)  # noqa: E731
        reply = self._write(r, kind, key, [], send)
        if reply is None or reply.done_unanswered:
            self.tally.maybe_removed(target)
        elif reply.ok:
            self.tally.removed(target)
            r.removed(target)

    # --- helpers -----------------------------------------------------------------------------------

    def _write(self, r: RealtyModel | None, kind: str, key: str, md5s: list[str],
               send: Callable[[], Reply]) -> Reply | None:
        """Send a write until answered; record what an unanswered or refused one means."""
        reply = self.api.until_answered(kind, key, send)
        if reply is None:
            self.tally.unanswered_uploads(md5s)
            self.tally.violation("resolved", f"{kind} on {r.uuid if r is not None else 'a new property'}: only 503, 409 or "
                                             f"no answer for {RETRY_FOR:.0f} s")
            if r is not None:
                r.uncertain = True
        elif reply.done_unanswered:
            # Done, but what it did is unknown to this client: like a write never answered, minus the violation.
            self.tally.note("writes done, their answer lost with the process (409 ALREADY_DONE)")
            self.tally.unanswered_uploads(md5s)
            if r is not None:
                r.uncertain = True
        elif not reply.ok and r is not None and not r.shared:
            self.tally.violation("refused", f"{kind} on own realty {r.uuid}: {reply.label} {reply.message}")
        elif not reply.ok and r is not None and "at most 200" in reply.message:
            self.tally.note("writes on hot realties refused by the 200 cap")
        return reply

    def _uploads(self, n: int) -> list[Upload]:
        """Grants and S3 uploads of `n` new pictures; those whose grant or upload failed are left out."""
        made = []
        for _ in range(n):
            content_type, label = self._content_type(), self._label()
            made.append(self.api.grant_and_upload(photo(content_type, label), content_type,
                                                  f"{label}.{CONTENT_TYPES[content_type][1]}"))
        return [upload for upload in made if upload is not None]

    def _too_big(self, r: RealtyModel) -> bool:
        return len(r) >= OWN_MAX if not r.shared else self._hot_size >= HOT_FULL and self.rnd.random() < 0.5

    def _pid(self, r: RealtyModel) -> str:
        return r.property_id if r.property_id and self.rnd.random() < 0.5 else r.uuid

    def _content_type(self) -> str:
        return self.rnd.choices(list(CONTENT_TYPES), weights=[w for w, _ in CONTENT_TYPES.values()])[0]

    def _label(self) -> str:
        return f"{self.name}-{next(self._labels)}"

    def _text(self) -> str:
        return f"{self.rnd.choice(['Sunny', 'Quiet', 'Bright', 'Cosy'])} room " + "x" * self.rnd.choice([0, 10, 900])


def _rest_items(reply: Reply) -> list[Item]:
    return [Item(i["realtyImageId"], i["hero"], i["published"]) for i in reply.body["realtyImages"]]

