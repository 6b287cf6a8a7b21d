"""The job queue on Dramatiq: Redis and worker processes when REDIS_URL is set, otherwise a pool of
worker threads inside the gateway process. Both run the same actor with the same retries.

- Redis (`redis_queue`): the gateway only enqueues; `flask --app wsgi worker` runs Dramatiq's own
  worker processes. Dramatiq acknowledges a message only after its job returns, and a worker whose
  heartbeat stops (SIGKILL, a lost machine) has its unacknowledged messages put back on the queue by
  the next worker's maintenance pass: the heartbeat timeout (WORKER_HEARTBEAT_TIMEOUT), plus the
  seconds MAINTENANCE_CHANCE leaves until an idle worker runs one.
- In process (`InProcessJobQueue`): Dramatiq's in-memory broker and a `Worker` with a few threads,
  started by the first job in the process that serves requests (never in a master process that
  forks). Jobs queued there die with the process; the database sweep queues them again.

Either way the database sweep (`ImageProcessor.requeue_stale`) runs on a timer: in every worker
process, or in the gateway process that renders.
"""
from __future__ import annotations

import atexit
import logging
import os
import threading
from typing import Callable, Sequence
from uuid import UUID

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Middleware

from core.errors import Conflict, Unavailable
from core.ports import JobQueue, RenderJob

log = logging.getLogger(__name__)

RENDER_QUEUE = "renditions"
MAINTENANCE_CHANCE = 100_000
"""Per million Redis commands. An idle worker polls about twice a second, so a dead worker's jobs are
back on the queue within seconds of its heartbeat timing out (Dramatiq's default, 1,000, can take minutes)."""
MAX_RETRIES = 30
MIN_BACKOFF_MS = 1_000
MAX_BACKOFF_MS = 5 * 60_000
"""Outages are retried with exponential backoff capped at five minutes: about two hours in all, after
which the database sweep takes over."""
TIME_LIMIT_MS = 10 * 60_000
SWEEP_INTERVAL_SECONDS = 30.0

Render = Callable[[RenderJob], None]
Sweep = Callable[[], int]


def _retry_outages(retries: int, exc: BaseException) -> bool:
    # Anything else already ended as FAILED inside the job: running it again would not help.
    return isinstance(exc, (Unavailable, Conflict)) and retries < MAX_RETRIES


class _Sweeper:
    """Runs the database sweep on a timer, in a thread of its own."""

    def __init__(self, sweep: Sweep, interval: float) -> None:
        self._sweep = sweep
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="render-sweeper", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop, and wait for a sweep under way: the database may be closed next."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            try:
                self._sweep()
            except Exception:  # noqa: BLE001 - e.g. the database is down: try again next round
                log.warning("render job sweep failed", exc_info=True)
            if self._stop.wait(self._interval):
                return


class _SweepInWorkers(Middleware):
    """Starts the sweep with each Dramatiq worker process."""

    def __init__(self, sweeper: _Sweeper) -> None:
        self._sweeper = sweeper

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._sweeper.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._sweeper.stop()


class DramatiqJobQueue(JobQueue):
    def __init__(self, broker: dramatiq.Broker, render: Render) -> None:
        self.broker = broker

        def render_image(org: str, realty_uuid: str, image_uuid: str) -> None:
            render(RenderJob(org, UUID(realty_uuid), UUID(image_uuid)))

        self._actor = dramatiq.actor(
            render_image, broker=broker, actor_name="render_image", queue_name=RENDER_QUEUE,
            retry_when=_retry_outages, min_backoff=MIN_BACKOFF_MS, max_backoff=MAX_BACKOFF_MS,
            time_limit=TIME_LIMIT_MS)

    def enqueue(self, jobs: Sequence[RenderJob]) -> None:
        for job in jobs:
            self._actor.send(job.org, str(job.realty_uuid), str(job.image_uuid))

    def backlog(self) -> int:
        return int(self.broker.do_qsize(RENDER_QUEUE))


class InProcessJobQueue(DramatiqJobQueue):
    """Jobs run by a `dramatiq.Worker` inside this process, on Dramatiq's in-memory broker."""

    def __init__(self, render: Render, sweep: Sweep, threads: int,
                 sweep_interval: float = SWEEP_INTERVAL_SECONDS) -> None:
        super().__init__(StubBroker(), render)
        self._threads = threads
        self._sweeper = _Sweeper(sweep, sweep_interval)
        self._sweeper_pid: int | None = None
        self._worker: dramatiq.Worker | None = None
        self._worker_pid: int | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the sweep, once per process (a process forked after a start has no threads). The
        worker threads wait for the first job: most gateway processes never need them."""
        if self._sweeper_pid == os.getpid():
            return
        with self._lock:
            if self._sweeper_pid != os.getpid():
                self._sweeper.start()
                self._sweeper_pid = os.getpid()

    def stop(self, timeout_ms: int = 10_000) -> None:
        with self._lock:
            self._sweeper.stop()
            if self._worker is not None and self._worker_pid == os.getpid():
                self._worker.stop(timeout=timeout_ms)
            self._worker, self._worker_pid = None, None

    def enqueue(self, jobs: Sequence[RenderJob]) -> None:
        self._start_worker()
        super().enqueue(jobs)

    def _start_worker(self) -> None:
        if self._worker_pid == os.getpid():
            return
        with self._lock:
            if self._worker_pid != os.getpid():
                self._worker = dramatiq.Worker(self.broker, worker_threads=self._threads, worker_timeout=100)
                self._worker.start()
                self._worker_pid = os.getpid()
                atexit.register(self.stop)

    def backlog(self) -> int:
        queues = self.broker.queues
        return sum(q.unfinished_tasks for name, q in queues.items() if name.startswith(RENDER_QUEUE))

    def join(self, timeout_ms: int = 60_000) -> None:
        """Wait until no job is queued or running (tests, benchmarks)."""
        self.broker.join(RENDER_QUEUE, timeout=timeout_ms, fail_fast=False)
        if self._worker is not None:
            self._worker.join()


def redis_queue(redis_url: str, render: Render, sweep: Sweep, *, heartbeat_timeout_s: float,
                sweep_interval: float = SWEEP_INTERVAL_SECONDS, timeout: float | None = None) -> DramatiqJobQueue:
    """`timeout`: seconds a Redis command may take; a save whose enqueue fails this way still answers
    (the sweep queues its jobs later) instead of waiting on a hung Redis."""
    client = redis.Redis.from_url(redis_url, socket_timeout=timeout, socket_connect_timeout=timeout)
    broker = RedisBroker(client=client, heartbeat_timeout=int(heartbeat_timeout_s * 1000),
                         maintenance_chance=MAINTENANCE_CHANCE)
    broker.add_middleware(_SweepInWorkers(_Sweeper(sweep, sweep_interval)))
    return DramatiqJobQueue(broker, render)
