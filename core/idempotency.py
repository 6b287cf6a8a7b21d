"""Writes done at most once: a client that retries a write whose answer it lost gets the first answer
again, and the work is not done twice (CONTRACT §8).

A facade names each write by a key its client chose (REST: the Request-ID, GraphQL: an
Idempotency-Key), within the caller's org, and describes the request by its operation and a
fingerprint of its content; the answer is the facade's too (opaque bytes: status, headers and body are
its own words). The rules live here:

- Per org and key, the work runs once. The answer of work that changed something is kept for
  `retention` and handed to every retry of the same request; an answer too large to keep is
  replaced by a note that the work was done, so a retry is refused instead of done again.
- A key already used for another request (another operation, or other content) is refused.
- A request that changed nothing (refused, or failed because a backend was down, a concurrent change
  won, or a bug) keeps nothing: the client may simply send it again, and then it is done.
- Whether it changed something is recorded in the write's own transaction (`mark_done`, called by the
  unit of work as it commits): a process that dies after the commit and before the answer is kept
  leaves the key done, never free, so the work is never done again; a retry is then told it was done.
- Two copies of one request at once: the first to record the key does the work; the other waits for
  its answer (at most `wait`), then answers "still in progress, retry" (Conflict). A record whose
  worker died without a word (a killed process) is taken over after `lease`.
- The end of a request (its answer kept, or its key freed) that could not be written because the
  database went down meanwhile is written again as soon as the database answers: by a background
  thread, and first thing by a retry of the same request reaching the same process. A retry after
  a 503 is then done at once instead of waiting out the lease, and a kept answer is never lost.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Callable

from core.errors import AnswerNotKept, Conflict, RequestKeyReused
from core.ports import Caller, Clock, IdGenerator
from core.repositories import RequestRecord, UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IdempotencyLimits:
    retention: timedelta = timedelta(hours=24)
    """How long a kept answer is given to retries; `gc` removes records older than this."""
    wait: timedelta = timedelta(seconds=10)
    """How long a copy of a request in progress waits for the first one's answer."""
    poll: timedelta = timedelta(milliseconds=100)
    lease: timedelta = timedelta(minutes=2)
    """After this, a record without an answer counts as abandoned by its worker: far longer than a
    write takes, every backend call being bounded by the backend timeout."""
    settle_retry: timedelta = timedelta(milliseconds=500)
    """How often the end of a request that could not be written is tried again."""
    max_answer_bytes: int = 64 * 1024 * 1024
    """Larger answers are not kept, only the note that the write was done. A REST save of 200 images
    with the longest texts answers about 1 MB, and GraphQL answers are bounded in bytes below this; the
    repository keeps JSON compressed, at about a tenth of its size."""


@dataclass(frozen=True)
class Answer:
    """What a write answered, as its facade encoded it to give it again."""

    content: bytes
    changed: bool = False
    """The write changed something: its answer is kept and replayed."""


def kept(content: bytes) -> bytes:
    """The record of an answer kept for its retries."""
    return b"{}\n" + content


def _not_kept(size: int) -> bytes:
    """What is kept of an answer too large to keep: that the write was done, and the answer's size."""
    return json.dumps({"not_kept": size}).encode() + b"\n"


def _replayed(record: bytes) -> Answer:
    head, _, content = record.partition(b"\n")
    meta = json.loads(head)
    if "not_kept" in meta:
        raise AnswerNotKept(f"This request was done already; its answer ({meta['not_kept']} bytes) was too "
                            "large to keep, so read the result instead of sending the request again")
    return Answer(content)


@dataclass
class _Running:
    record: RequestRecord
    done: bool = False


_running: ContextVar[_Running | None] = ContextVar("idempotent_write", default=None)
"""The write this thread is doing for a key, if any."""


def mark_done(uow: UnitOfWork) -> Callable[[], None]:
    """Record, in the unit of work about to commit, that the write this thread is doing for a key (if any)
    changed something; call what this returns once the commit succeeded. Called by every unit of work
    that commits a change of a use case."""
    running = _running.get()
    if running is None:
        return lambda: None
    record = running.record
    uow.requests.mark_done(record.org, record.key, record.owner)

    def committed() -> None:
        running.done = True

    return committed


@dataclass(frozen=True)
class Outcome:
    answer: Answer
    replayed: bool
    """The answer of an earlier copy of the request; nothing was done now."""


class IdempotentWrites:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, ids: IdGenerator,
                 limits: IdempotencyLimits = IdempotencyLimits()) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self.limits = limits
        self._unsettled: dict[tuple[str, str], tuple[RequestRecord, bytes | None]] = {}
        """Per org and key: the ends of requests not written yet."""
        self._unsettled_lock = threading.Lock()
        self._settler: threading.Thread | None = None

    def run(self, caller: Caller, key: str, operation: str, fingerprint: str,
            work: Callable[[], Answer]) -> Outcome:
        """`work`'s answer, or the answer an earlier copy of this request was given."""
        if self._unsettled:
            self._settle_unsettled(only=(caller.org, key))  # a retry of a request that ended unrecorded
        owner = self._ids.new().hex
        deadline = self._clock.now() + self.limits.wait
        while True:
            now = self._clock.now()
            mine = RequestRecord(caller.org, key, operation, fingerprint, owner, now)
            holder = self._claim(mine)
            if holder is not None:
                if holder.owner == owner:
                    return self._do(mine, work)
                if (holder.operation, holder.fingerprint) != (operation, fingerprint):
                    raise RequestKeyReused("This key was already used for a different request; "
                                           "send a new request with a new key")
                if holder.answer is not None:
                    return Outcome(_replayed(holder.answer), replayed=True)
                if holder.done and holder.created_at <= now - self.limits.lease:
                    raise AnswerNotKept("This request was done already, but its answer was lost with the process "
                                        "that made it; read the result instead of sending the request again")
                if holder.created_at <= now - self.limits.lease and self._take_over(holder, owner, now):
                    log.warning("taking over request %r of org %r: its worker gave no answer", key, caller.org)
                    return self._do(replace(mine, created_at=now), work)
            if now >= deadline:
                raise Conflict("The same request is still being answered; retry it in a moment")
            self._clock.sleep(self.limits.poll.total_seconds())

    def expire(self, now: datetime, batch: int) -> int:
        """Forget records older than the retention time; returns how many."""
        with self._uow() as uow:
            expired = uow.requests.expire(now - self.limits.retention, batch)
            uow.commit()
        return expired

    def _claim(self, record: RequestRecord) -> RequestRecord | None:
        # A transaction of its own, committed before the work starts: a copy of the request arriving
        # meanwhile finds the key taken instead of doing the work too.
        with self._uow() as uow:
            holder = uow.requests.claim(record, expired_before=record.created_at - self.limits.retention)
            uow.commit()
        return holder

    def _take_over(self, holder: RequestRecord, owner: str, now: datetime) -> bool:
        with self._uow() as uow:
            taken = uow.requests.take_over(holder.org, holder.key, holder.owner, owner, now)
            uow.commit()
        return taken

    def _do(self, record: RequestRecord, work: Callable[[], Answer]) -> Outcome:
        running = _Running(record)
        token = _running.set(running)
        try:
            answer = work()
        except BaseException:
            # A write that committed and then failed is done: a retry must hear so, not do it again.
            self._settle(record, _not_kept(0) if running.done else None)
            raise
        finally:
            _running.reset(token)
        end = None
        if answer.changed or running.done:
            # Work that changed something never frees its key: a retry must not do it again.
            size = len(answer.content)
            end = kept(answer.content) if size <= self.limits.max_answer_bytes else _not_kept(size)
            if size > self.limits.max_answer_bytes:
                log.warning("keeping only a note of the %d-byte answer of request %r", size, record.key)
        self._settle(record, end)
        return Outcome(answer, replayed=False)

    def _settle(self, record: RequestRecord, answer: bytes | None) -> None:
        """Keep the answer, or free the key for a retry. The work is over either way and its answer must
        still reach the client: a failure here (the database went down meanwhile) is logged, and the end
        is written again as soon as the database answers."""
        try:
            self._write_end(record, answer)
        except Exception:  # noqa: BLE001 - see above
            log.warning("could not record the end of request %r of org %r; trying again in the background",
                        record.key, record.org, exc_info=True)
            with self._unsettled_lock:
                self._unsettled[(record.org, record.key)] = (record, answer)
                if self._settler is None:
                    self._settler = threading.Thread(target=self._settle_until_done, name="idempotency-settler",
                                                     daemon=True)
                    self._settler.start()

    def _write_end(self, record: RequestRecord, answer: bytes | None) -> None:
        with self._uow() as uow:
            if answer is None:
                uow.requests.forget(record.org, record.key, record.owner)
            else:
                uow.requests.keep_answer(record.org, record.key, record.owner, answer)
            uow.commit()

    def _settle_until_done(self) -> None:
        while True:
            time.sleep(self.limits.settle_retry.total_seconds())  # a retry cadence, not business time
            try:
                self._settle_unsettled()
            except Exception:  # noqa: BLE001 - the database is still down: try again later
                pass
            with self._unsettled_lock:
                if not self._unsettled:
                    self._settler = None
                    return

    def _settle_unsettled(self, only: tuple[str, str] | None = None) -> None:
        """Write the ends not written yet (or only the one of that org and key); raises the database's
        error at the first that still cannot be written. Each write only touches a record its own
        request still holds, so one taken over meanwhile is left alone."""
        with self._unsettled_lock:
            pending = [(slot, end) for slot, end in self._unsettled.items() if only in (None, slot)]
        for slot, end in pending:
            record, answer = end
            if record.created_at > self._clock.now() - self.limits.retention:
                self._write_end(record, answer)
            with self._unsettled_lock:
                if self._unsettled.get(slot) is end:  # not a later end of the same key, added meanwhile
                    del self._unsettled[slot]
