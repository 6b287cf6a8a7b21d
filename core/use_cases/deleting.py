"""Deleting an image: never a published one; its stored blobs go unless a copy still uses them."""
from __future__ import annotations

from core.commands import DeleteImage
from core.dependencies import Deps
from core.use_cases.realties import lock_realty, realty_of_image


def delete_image(cmd: DeleteImage, deps: Deps) -> None:
    realty_ref = cmd.realty_ref if cmd.realty_ref is not None else realty_of_image(deps.uow, cmd.caller, cmd.ref)
    with deps.uow() as uow:
        realty = lock_realty(uow, cmd.caller, realty_ref, deps.clock)
        image = realty.remove(cmd.ref, deps.clock.now())
        uow.realties.save_images(realty)
        deps.ledger.release(uow, image.blob_keys)
        uow.commit()
