"""Blob writes the database can always account for.

Every blob of an image is *reserved* in the database, in a transaction of its own, before it is
written, and counted as *used* in the same transaction as the metadata that uses it. So whatever
stops a writer (an error, a timeout, SIGKILL), each blob it wrote is either used by an image or
findable: `discard` removes it at once when the writer can still say so, `gc` after
`Limits.reservation_grace` when it cannot. Copies share blobs; a blob goes with its last user.

A key is written once: every blob gets a key no earlier write had (an image's uuid, a render
attempt's number), so a tombstone left by a failed write can never name a blob written later under
the same key. Two checks keep that true should a key ever come back: reserving a key drops its
tombstone in the same transaction, and a purge never deletes a key the database still records.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from datetime import datetime
from typing import Iterator, Sequence

from core.errors import Conflict, TimedOut
from core.events import BlobsFreed
from core.ports import BlobStore, Clock
from core.repositories import UnitOfWork
from core.unit_of_work import PublishingUnitOfWork, PublishingUnitOfWorkFactory

log = logging.getLogger(__name__)


class BlobLedger:
    def __init__(self, uow: PublishingUnitOfWorkFactory, blobs: BlobStore, clock: Clock) -> None:
        self._uow = uow
        self._blobs = blobs
        self._clock = clock

    @contextmanager
    def writing(self, keys: Sequence[str]) -> Iterator[None]:
        """Reserve `keys`, then run the block that writes them and commits their use. If the block
        fails, those of them that no image uses are deleted again; unless a backend did not answer in
        time: deleting now would wait as long again before the caller hears of the failure, and the
        reservations let `gc` delete them later."""
        with self._uow(changes=False) as uow:
            uow.blobs.reserve(keys, self._clock.now())
            uow.tombstones.remove(keys)
            uow.commit()
        try:
            yield
        except TimedOut:
            log.info("a backend timed out: %d reserved blobs are left for gc", len(keys))
            raise
        except BaseException:
            self.discard(keys)
            raise

    @staticmethod
    def use(uow: UnitOfWork, keys: Sequence[str]) -> None:
        """Count one more use of each key, inside the caller's transaction."""
        if uow.blobs.use(keys) != len(set(keys)):
            # The blob's last user was deleted meanwhile (a copy racing a delete), or gc took a
            # reservation that outlived its grace: the stored bytes may be gone.
            raise Conflict("A stored file changed while it was being used; retry")

    def release(self, uow: PublishingUnitOfWork, keys: Sequence[str]) -> None:
        """Count one use fewer of each key, inside the caller's transaction; the blobs no image uses any
        more are deleted once it commits."""
        self.free(uow, uow.blobs.release(keys))

    def free(self, uow: PublishingUnitOfWork, keys: Sequence[str]) -> None:
        """Delete these blobs once the caller's transaction commits (tombstoned in it, so a delete that
        fails then is retried by gc)."""
        if keys:
            uow.tombstones.add(keys, self._clock.now())
            uow.record(BlobsFreed(tuple(keys)))

    def discard(self, keys: Sequence[str]) -> None:
        """Delete those of `keys` that no image uses: blobs written for a change that did not happen."""
        try:
            with self._uow(changes=False) as uow:
                self.free(uow, uow.blobs.unused(keys))
                uow.commit()
        except Exception:  # noqa: BLE001 - the reservations stay, so gc removes the blobs later
            log.warning("could not discard %d blobs now; gc will", len(keys), exc_info=True)

    def collect_abandoned(self, reserved_before: datetime, batch: int) -> int:
        """Delete blobs reserved before the cut-off that no image came to use; returns how many."""
        with self._uow(changes=False) as uow:
            gone = uow.blobs.unused(uow.blobs.abandoned(reserved_before, batch))
            self.free(uow, gone)
            uow.commit()
        return len(gone)

    def purge(self, keys: Sequence[str]) -> None:
        """Delete blobs whose tombstones are committed, except those recorded again since (their
        tombstones are dropped instead); on failure the tombstones stay for `gc`."""
        if not keys:
            return
        try:
            with self._uow(write=False) as uow:
                recorded = set(uow.blobs.recorded(keys))
            doomed = [key for key in keys if key not in recorded]
            if doomed:
                self._blobs.delete(doomed)
            with self._uow(changes=False) as uow:
                uow.tombstones.remove(keys)
                uow.commit()
        except Exception:  # noqa: BLE001 - the tombstones make this retryable
            log.warning("could not delete %d blobs now; gc will retry", len(keys), exc_info=True)

    def purge_leftovers(self, batch: int) -> int:
        """Retry deletes that failed before (their tombstones remain); returns how many were tried."""
        with self._uow(write=False) as uow:
            leftovers = uow.tombstones.list(batch)
        self.purge(leftovers)
        return len(leftovers)
