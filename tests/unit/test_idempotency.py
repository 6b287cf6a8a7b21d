"""Writes done at most once per key (core/idempotency.py), on the in-memory fakes: one rule per test."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from core.errors import AnswerNotKept, Conflict, RequestKeyReused, Unavailable
from core.idempotency import Answer, IdempotencyLimits, IdempotentWrites, kept
from core.ports import Caller, Clock
from tests.fakes import FakeClock, InMemoryDatabase, SequentialIds

ORG_A = Caller(sub="agent-a", org="org-a")
ORG_B = Caller(sub="agent-b", org="org-b")


class Counter:
    """A write that counts how often it was done and answers with that count."""

    def __init__(self, changed: bool = True) -> None:
        self.done = 0
        self.changed = changed

    def __call__(self) -> Answer:
        self.done += 1
        return Answer(f"answer {self.done}".encode(), changed=self.changed)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db() -> InMemoryDatabase:
    return InMemoryDatabase()


@pytest.fixture
def writes(db, clock) -> IdempotentWrites:
    return IdempotentWrites(db, clock, SequentialIds())


def test_a_retry_gets_the_first_answer_and_the_work_is_not_done_again(writes):
    write = Counter()
    first = writes.run(ORG_A, "k1", "save", "f1", write)
    again = writes.run(ORG_A, "k1", "save", "f1", write)
    assert (first.answer.content, first.replayed) == (b"answer 1", False)
    assert (again.answer.content, again.replayed) == (b"answer 1", True)
    assert write.done == 1


@pytest.mark.parametrize("operation, fingerprint", [("save", "other body"), ("copy", "f1")])
def test_a_key_used_for_another_request_is_refused(writes, operation, fingerprint):
    writes.run(ORG_A, "k1", "save", "f1", Counter())
    other = Counter()
    with pytest.raises(RequestKeyReused):
        writes.run(ORG_A, "k1", operation, fingerprint, other)
    assert other.done == 0


def test_keys_belong_to_an_org(writes):
    write = Counter()
    writes.run(ORG_A, "k1", "save", "f1", write)
    other_org = writes.run(ORG_B, "k1", "save", "f1", write)
    assert (other_org.answer.content, other_org.replayed) == (b"answer 2", False)


@pytest.mark.parametrize("failure", [Unavailable("storage is down"), Conflict("a concurrent change won"),
                                     RuntimeError("a bug")], ids=["unavailable", "conflict", "bug"])
def test_a_failed_write_keeps_nothing_so_its_retry_is_done(writes, failure):
    def failing() -> Answer:
        raise failure

    with pytest.raises(type(failure)):
        writes.run(ORG_A, "k1", "save", "f1", failing)
    write = Counter()
    retried = writes.run(ORG_A, "k1", "save", "f1", write)
    assert (retried.answer.content, retried.replayed, write.done) == (b"answer 1", False, 1)


def test_an_answer_that_changed_nothing_is_not_kept(writes):
    refused = Counter(changed=False)
    writes.run(ORG_A, "k1", "save", "f1", refused)
    writes.run(ORG_A, "k1", "save", "f1", refused)
    assert refused.done == 2


def test_a_copy_arriving_while_the_first_runs_waits_for_its_answer(writes, db, clock):
    record_of_first = _in_progress(writes, db, clock)
    # While the copy waits, the first finishes.
    clock.while_sleeping.append(
        lambda: _finish(db, record_of_first, kept(b"the first answer")))
    write = Counter()
    copy = writes.run(ORG_A, "k1", "save", "f1", write)
    assert (copy.answer.content, copy.replayed, write.done) == (b"the first answer", True, 0)


def test_a_copy_waits_a_bounded_time_then_is_told_to_retry(writes, db, clock):
    _in_progress(writes, db, clock)
    started = clock.now()
    write = Counter()
    with pytest.raises(Conflict):
        writes.run(ORG_A, "k1", "save", "f1", write)
    assert write.done == 0
    assert writes.limits.wait <= clock.now() - started <= writes.limits.wait + writes.limits.poll


def test_a_record_whose_worker_died_is_taken_over_after_its_lease(writes, db, clock):
    _in_progress(writes, db, clock)
    clock.advance(seconds=writes.limits.lease.total_seconds())
    write = Counter()
    taken = writes.run(ORG_A, "k1", "save", "f1", write)
    assert (taken.replayed, write.done) == (False, 1)
    assert writes.run(ORG_A, "k1", "save", "f1", write).answer.content == b"answer 1"


def test_records_expire_after_a_day(writes, clock):
    write = Counter()
    writes.run(ORG_A, "k1", "save", "f1", write)
    clock.advance(hours=23)
    assert writes.expire(clock.now(), batch=100) == 0
    assert writes.run(ORG_A, "k1", "save", "f1", write).replayed
    clock.advance(hours=1, seconds=1)
    assert writes.run(ORG_A, "k1", "save", "f1", write).replayed is False, "an expired record no longer counts"
    clock.advance(hours=25)
    assert writes.expire(clock.now(), batch=100) == 1


def test_an_answer_too_large_to_keep_still_keeps_the_write_done_once(db, clock):
    """Issue 20 #8: a copy answering 19 MB freed its key, and its retry copied a second time."""
    writes = IdempotentWrites(db, clock, SequentialIds(), IdempotencyLimits(max_answer_bytes=5))
    write = Counter()
    assert writes.run(ORG_A, "k1", "save", "f1", write).answer.content == b"answer 1"
    with pytest.raises(AnswerNotKept) as refused:
        writes.run(ORG_A, "k1", "save", "f1", write)
    assert write.done == 1 and "done already" in refused.value.message
    with pytest.raises(RequestKeyReused):
        writes.run(ORG_A, "k1", "save", "another body", write)


def test_an_answer_that_cannot_be_recorded_still_reaches_the_client(writes, db):
    def write_then_database_down() -> Answer:
        db.down = True
        return Answer(b"done", changed=True)

    assert writes.run(ORG_A, "k1", "save", "f1", write_then_database_down).answer.content == b"done"
    db.down = False
    retry = writes.run(ORG_A, "k1", "save", "f1", write_then_database_down)
    assert (retry.answer.content, retry.replayed) == (b"done", True), "the answer was kept once the database was back"


def _database_lost_mid_write(db):
    def write() -> Answer:
        db.down = True  # the write's own transaction and the end of the request both fail
        raise Unavailable("the database is unavailable")
    return write


def test_a_write_whose_end_could_not_be_recorded_is_retried_at_once_once_the_database_is_back(writes, db, clock):
    """The first answer was 503: nothing was kept, so a retry must be done now, not wait out the lease."""
    with pytest.raises(Unavailable):
        writes.run(ORG_A, "k1", "save", "f1", _database_lost_mid_write(db))
    db.down = False
    started, write = clock.now(), Counter()
    retried = writes.run(ORG_A, "k1", "save", "f1", write)
    assert (retried.answer.content, retried.replayed, write.done) == (b"answer 1", False, 1)
    assert clock.now() - started < writes.limits.poll * 2, "the retry did not wait for the dead request"


def test_the_end_of_a_request_is_recorded_by_itself_once_the_database_is_back(db):
    """A retry may reach another process of the gateway: this one frees the key without being asked."""
    writes = IdempotentWrites(db, RealClock(), SequentialIds(), IdempotencyLimits(poll=timedelta(milliseconds=10)))
    with pytest.raises(Unavailable):
        writes.run(ORG_A, "k1", "save", "f1", _database_lost_mid_write(db))
    assert (ORG_A.org, "k1") in db.data.requests
    db.down = False
    deadline = time.monotonic() + 60  # generous for a busy machine: the loop ends as soon as the key is free
    while (ORG_A.org, "k1") in db.data.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (ORG_A.org, "k1") not in db.data.requests, "the key was freed once the database answered"


class RealClock(Clock):
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


def test_two_copies_at_the_same_time_do_the_work_once(db):
    """Real threads and time: the second copy finds the key taken and gets the first one's answer."""
    writes = IdempotentWrites(db, RealClock(), SequentialIds(), IdempotencyLimits(poll=timedelta(milliseconds=10)))
    started, release = threading.Event(), threading.Event()
    done = []

    def slow_write() -> Answer:
        done.append(1)
        started.set()
        release.wait(60)
        return Answer(b"saved once", changed=True)

    outcomes = []
    first = threading.Thread(target=lambda: outcomes.append(writes.run(ORG_A, "k1", "save", "f1", slow_write)))
    first.start()
    assert started.wait(60)
    second = threading.Thread(target=lambda: outcomes.append(writes.run(ORG_A, "k1", "save", "f1", slow_write)))
    second.start()
    threading.Timer(0.2, release.set).start()
    first.join(60)
    second.join(60)
    assert len(done) == 1
    assert sorted((o.answer.content, o.replayed) for o in outcomes) == [(b"saved once", False), (b"saved once", True)]


# --- helpers ------------------------------------------------------------------------------------

def _in_progress(writes, db, clock):
    """A first copy of the request that has claimed the key and is still working."""
    from core.repositories import RequestRecord

    record = RequestRecord(ORG_A.org, "k1", "save", "f1", "first-owner", clock.now())
    with db() as uow:
        uow.requests.claim(record, expired_before=clock.now() - timedelta(days=1))
        uow.commit()
    return record


def _finish(db, record, answer: bytes) -> None:
    with db() as uow:
        uow.requests.keep_answer(record.org, record.key, record.owner, answer)
        uow.commit()
