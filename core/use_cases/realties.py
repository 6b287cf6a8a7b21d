"""Finding the realty a use case changes: the steps every writer shares."""
from __future__ import annotations

from uuid import UUID

from core.domain import ImageRef, Realty
from core.errors import NotFound
from core.ports import Caller, Clock
from core.repositories import UnitOfWork, UnitOfWorkFactory


def lock_realty(uow: UnitOfWork, caller: Caller, ref: UUID | int, clock: Clock, create: bool = False) -> Realty:
    """The caller's realty, held until the unit of work ends; with `create`, one nobody has written yet
    comes into being. NotFound when missing (or another org's)."""
    if isinstance(ref, int):
        found = uow.realties.get(caller.org, ref)
        if found is None:
            raise NotFound(f"Realty {ref} not found")
        ref = found.uuid
    realty = uow.realties.lock(caller.org, ref, created_at=clock.now() if create else None)
    if realty is None:
        raise NotFound(f"Realty {ref} not found")
    return realty


def realty_of_image(uow: UnitOfWorkFactory, caller: Caller, ref: ImageRef) -> UUID:
    with uow(write=False) as reading:
        realty_uuid = reading.realties.realty_of_image(caller.org, ref)
    if realty_uuid is None:
        raise NotFound(f"Image {ref} not found")
    return realty_uuid
