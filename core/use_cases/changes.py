"""Changing images: metadata and order, and publication."""
from __future__ import annotations

from core.commands import SetPublished, UpdateImage, UpdateImages
from core.dependencies import Deps
from core.domain import Image, Realty
from core.input_rules import TextRules
from core.use_cases.realties import lock_realty, realty_of_image


def update_images(cmd: UpdateImages, deps: Deps) -> Realty:
    texts = TextRules()
    for n, change in enumerate(cmd.changes):
        texts.description(change.description, f"images[{n}].description")
    texts.raise_if_any()
    with deps.uow() as uow:
        realty = lock_realty(uow, cmd.caller, cmd.realty_ref, deps.clock)
        realty.apply(cmd.changes, deps.clock.now(), reorder=cmd.reorder)
        uow.realties.save_images(realty)
        uow.commit()
    return realty


def update_image(cmd: UpdateImage, deps: Deps) -> Image:
    realty_uuid = realty_of_image(deps.uow, cmd.caller, cmd.change.ref)
    realty = update_images(UpdateImages(cmd.caller, realty_uuid, [cmd.change]), deps)
    return realty.image(cmd.change.ref)


def set_published(cmd: SetPublished, deps: Deps) -> Realty:
    with deps.uow() as uow:
        realty = lock_realty(uow, cmd.caller, cmd.realty_ref, deps.clock)
        realty.set_published(cmd.refs, cmd.published, deps.clock.now())
        uow.realties.save_images(realty)
        uow.commit()
    return realty
