"""Garbage collection (`flask --app wsgi gc`): whatever the gateway keeps only for a while."""
from __future__ import annotations

from core.commands import CollectGarbage
from core.dependencies import Deps


def collect_garbage(cmd: CollectGarbage, deps: Deps) -> dict[str, int]:
    """Delete uploads never saved within the retention time, blobs whose writer died before any image
    used them, blobs left over by failed deletes, records of writes older than a day, and events (with
    the webhook deliveries and attempts of them) older than the feed keeps."""
    now, limits = deps.clock.now(), deps.limits
    # Never before the grant has expired: until then its holder may still save the upload.
    cutoff = now - max(limits.upload_retention, limits.grant_ttl)
    with deps.uow(write=False) as uow:
        keys = [grant.key for grant in uow.grants.stale(cutoff, cmd.batch)]
    if keys:
        deps.blobs.delete(keys)
        with deps.uow() as uow:
            uow.grants.delete(keys)
            uow.commit()
    abandoned = deps.ledger.collect_abandoned(now - limits.reservation_grace, cmd.batch)
    leftovers = deps.ledger.purge_leftovers(cmd.batch)
    expired_requests = deps.writes.expire(now, cmd.batch)
    with deps.uow() as uow:
        expired_events = uow.events.prune(now - limits.event_retention, cmd.batch)
        expired_deliveries = uow.deliveries.prune(now - limits.event_retention, cmd.batch)
        uow.commit()
    return {"expired_uploads": len(keys), "abandoned_blobs": abandoned, "purged_blobs": leftovers,
            "expired_requests": expired_requests, "expired_events": expired_events,
            "expired_deliveries": expired_deliveries}
