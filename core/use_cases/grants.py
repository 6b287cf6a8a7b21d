"""Issuing an upload grant: a presigned POST form for one new key, recorded for the org."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.commands import IssueGrant
from core.dependencies import Deps
from core.domain import ACCEPTED_UPLOAD_TYPES, UploadGrant
from core.errors import FieldError, Problem, UnsupportedMediaType
from core.ports import UploadForm

UPLOAD_PREFIX = "uploads/"


@dataclass(frozen=True)
class IssuedGrant:
    key: str
    form: UploadForm
    expires_at: datetime


def issue_grant(cmd: IssueGrant, deps: Deps) -> IssuedGrant:
    if cmd.content_type not in ACCEPTED_UPLOAD_TYPES:
        raise UnsupportedMediaType(
            f"type must be one of {', '.join(ACCEPTED_UPLOAD_TYPES)}",
            [FieldError("content_type", Problem.WRONG_TYPE, f"unsupported content type {cmd.content_type!r}")],
        )
    key = f"{UPLOAD_PREFIX}{deps.ids.new()}"
    now = deps.clock.now()
    limits = deps.limits
    form = deps.blobs.upload_form(key, cmd.content_type, limits.max_upload_bytes,
                                  int(limits.grant_ttl.total_seconds()))
    with deps.uow() as uow:
        uow.grants.add(UploadGrant(key=key, org=cmd.caller.org, content_type=cmd.content_type,
                                   created_at=now, expires_at=now + limits.grant_ttl))
        uow.commit()
    return IssuedGrant(key=key, form=form, expires_at=now + limits.grant_ttl)
