"""Copying a realty's images to the end of another: new ids, the same stored blobs, one transaction."""
from __future__ import annotations

from core.commands import CopyImages
from core.dependencies import Deps
from core.domain import Image, copy_of
from core.errors import FieldError, InvalidInput, NotFound, Problem
from core.use_cases.realties import lock_realty


def copy_images(cmd: CopyImages, deps: Deps) -> list[Image]:
    """The copies share the source's stored blobs, so no byte moves."""
    with deps.uow(write=False) as uow:
        source = uow.realties.get(cmd.caller.org, cmd.source_ref)
    if source is None:
        raise NotFound(f"Source realty {cmd.source_ref} not found",
                       [FieldError("source", Problem.UNKNOWN, "no such realty")])
    if source.uuid == cmd.target_uuid:
        raise InvalidInput("A realty cannot be copied onto itself",
                           [FieldError("source", Problem.INVALID, "equals the target realty")])
    now = deps.clock.now()
    copies = [copy_of(image, deps.ids.new(), cmd.target_uuid, now) for image in source.images]
    with deps.uow() as uow:
        target = lock_realty(uow, cmd.caller, cmd.target_uuid, deps.clock, create=True)
        if target.hero is not None:
            for copy in copies:
                copy.hero = False
        target.append(copies, now, "source")
        uow.realties.save_images(target)
        # The source was read without its lock: a blob whose last user was deleted meanwhile is gone.
        deps.ledger.use(uow, [key for copy in copies for key in copy.blob_keys])
        uow.commit()
    return copies
