"""Creating properties (realties made by name, as GraphQL does) and their rooms."""
from __future__ import annotations

from core.commands import CreateProperty, CreateRoom
from core.dependencies import Deps
from core.domain import Realty, Room, check_room_count
from core.input_rules import TextRules
from core.use_cases.realties import lock_realty


def create_property(cmd: CreateProperty, deps: Deps) -> Realty:
    texts = TextRules()
    name = texts.name(cmd.name, "name", required=True)
    external_id = texts.name(cmd.external_id, "external_id")
    texts.raise_if_any()
    realty = Realty(uuid=deps.ids.new(), org=cmd.caller.org, created_at=deps.clock.now(), name=name,
                    external_id=external_id)
    with deps.uow() as uow:
        uow.realties.add(realty)
        uow.commit()
    return realty


def create_room(cmd: CreateRoom, deps: Deps) -> Room:
    texts = TextRules()
    name = texts.name(cmd.name, "name", required=True)
    texts.raise_if_any()
    with deps.uow() as uow:
        realty = lock_realty(uow, cmd.caller, cmd.realty_ref, deps.clock)  # racing creators take turns: the cap holds
        check_room_count(len(uow.rooms.list_for(cmd.caller.org, [realty.uuid])))
        room = Room(realty_uuid=realty.uuid, org=cmd.caller.org, name=name, created_at=deps.clock.now())
        uow.rooms.add(room)
        uow.commit()
    return room
