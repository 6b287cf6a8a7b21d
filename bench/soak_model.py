"""What a client knows a realty holds, from the answers to its own acknowledged writes.

A realty only one client writes (its "own") is known exactly: the client's writes run one after the
other, so after each acknowledged write the client knows the order, the hero and what is published,
and every read must agree. The gateway's rules are mirrored here only as far as a caller can read them
in the contract (appends go last, a new hero clears the old one, copies are unpublished and keep their
hero only when the target has none).

A realty several clients write at once (an org's "hot" realty) is known to nobody: its model stays
empty (`shared`), and only the invariants that hold whatever the interleaving are checked on it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


class Item(NamedTuple):
    image_id: str
    hero: bool
    published: bool


@dataclass
class RealtyModel:
    uuid: str
    property_id: str | None = None
    """Its GraphQL global id, once an answer told it; GraphQL calls use the realty UUID until then."""
    shared: bool = False
    order: list[str] = field(default_factory=list)
    hero: str | None = None
    published: set[str] = field(default_factory=set)
    etag: str | None = None
    etag_items: list[Item] | None = None
    """What the acknowledged writes said when that ETag was read: once they say otherwise, the listing
    differs, and a 304 for the ETag would hide the change."""
    uncertain: bool = False
    """A write to it never got an answer: its state is unknown from then on, so reads are not compared."""

    def __len__(self) -> int:
        return len(self.order)

    def items(self) -> list[Item]:
        return [Item(i, i == self.hero, i in self.published) for i in self.order]

    def unpublished(self) -> list[str]:
        return [i for i in self.order if i not in self.published]

    def appended(self, image_ids: list[str], hero: str | None = None) -> None:
        if self.shared:
            return
        self.order += image_ids
        if hero is not None:
            self.hero = hero

    def removed(self, image_id: str) -> None:
        if self.shared:
            return
        self.order.remove(image_id)
        self.published.discard(image_id)
        if self.hero == image_id:
            self.hero = None

    def reordered(self, image_ids: list[str], hero: bool | None = None, hero_of: str | None = None) -> None:
        """A new order; with `hero_of`, that image's hero flag set to `hero` (True clears the others)."""
        if self.shared:
            return
        self.order = list(image_ids)
        if hero_of is not None:
            self.hero_set(hero_of, hero)

    def hero_set(self, image_id: str | None, hero: bool | None) -> None:
        if self.shared:
            return
        if image_id is not None and hero is True:
            self.hero = image_id
        elif image_id is not None and hero is False and self.hero == image_id:
            self.hero = None

    def publication(self, image_ids: list[str] | None, published: bool) -> None:
        if self.shared:
            return
        chosen = set(self.order if image_ids is None else image_ids)
        self.published = self.published | chosen if published else self.published - chosen

    def copied_from(self, source: RealtyModel, copies: list[str]) -> None:
        """`copies` of the source's images, in its order, were appended to this realty."""
        keeps_hero = self.hero is None and source.hero in source.order
        self.appended(copies, copies[source.order.index(source.hero)] if keeps_hero else None)

    def differences(self, listed: list[Item]) -> str | None:
        """What a read shows that the acknowledged writes do not say; None when they agree."""
        if self.shared or self.uncertain or listed == self.items():
            return None
        ids = [i.image_id for i in listed]
        if ids != self.order:
            extra, missing = set(ids) - set(self.order), set(self.order) - set(ids)
            if not extra and not missing:
                return "the acknowledged images in another order"
            return f"{len(extra)} images listed that no answer told of, {len(missing)} acknowledged ones not listed"
        heroes = [i.image_id for i in listed if i.hero]
        if heroes != ([self.hero] if self.hero else []):
            return f"hero {heroes} listed vs {self.hero} acknowledged"
        published = {i.image_id for i in listed if i.published}
        return f"published {len(published)} listed vs {len(self.published)} acknowledged (differ in " \
               f"{len(published ^ self.published)})"
