"""The job queue on Dramatiq: Redis and worker processes when REDIS_URL is set, otherwise a pool of
worker threads inside the gateway process. Both run the same actors (render jobs; webhook fan-outs and
deliveries) with the same retries.

- Redis (`redis_queue`): the gateway only enqueues; `flask --app wsgi worker` runs Dramatiq's own
  worker processes. Dramatiq acknowledges a message only after its job returns, and a worker whose
  heartbeat stops (SIGKILL, a lost machine) has its unacknowledged messages put back on the queue by
  the next worker's maintenance pass: the heartbeat timeout (WORKER_HEARTBEAT_TIMEOUT), plus the
  seconds MAINTENANCE_CHANCE leaves until an idle worker runs one.
- In process (`InProcessJobQueue`): Dramatiq's in-memory broker and a `Worker` with a few threads,
  started by the first job in the process that serves requests (never in a master process that
  forks). Jobs queued there die with the process; the database sweep queues them again.

Either way the database sweeps (images left PENDING, events not handed to webhooks, deliveries overdue)
run on a timer: in every worker process, or in the gateway process that renders.
"""
from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from typing import Callable, Sequence
from uuid import UUID

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Middleware

from core.errors import Conflict, Unavailable
from core.ports import DeliveryJob, FanOutJob, Job, JobQueue, RenderJob

log = logging.getLogger(__name__)

RENDER_QUEUE = "renditions"
WEBHOOK_QUEUE = "webhooks"
"""Fan-outs and deliveries wait apart from render jobs: a burst of one never queues behind the other."""
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

Run = Callable[[Job], None]
Sweep = Callable[[], int]


def retry_outages(retries: int, exc: BaseException) -> bool:
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
        self._thread = threading.Thread(target=self._run, name="job-sweeper", daemon=True)
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
                log.warning("job sweep failed", exc_info=True)
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
    """Each kind of job is an actor; `run` does the job (the composition root hands it to the core)."""

    def __init__(self, broker: dramatiq.Broker, run: Run) -> None:
        self.broker = broker
        options = dict(broker=broker, retry_when=retry_outages, min_backoff=MIN_BACKOFF_MS,
                       max_backoff=MAX_BACKOFF_MS, time_limit=TIME_LIMIT_MS)

        def render_image(org: str, realty_uuid: str, image_uuid: str) -> None:
            run(RenderJob(org, UUID(realty_uuid), UUID(image_uuid)))

        def fan_out(org: str) -> None:
            run(FanOutJob(org))

        def deliver_events(org: str, webhook_id: str) -> None:
            run(DeliveryJob(org, UUID(webhook_id)))

        self._render = dramatiq.actor(render_image, actor_name="render_image", queue_name=RENDER_QUEUE, **options)
        self._fan_out = dramatiq.actor(fan_out, actor_name="fan_out", queue_name=WEBHOOK_QUEUE, **options)
        self._deliver = dramatiq.actor(deliver_events, actor_name="deliver_events", queue_name=WEBHOOK_QUEUE,
                                       **options)

    def enqueue(self, jobs: Sequence[Job]) -> None:
        for job in jobs:
            if isinstance(job, RenderJob):
                self._render.send(job.org, str(job.realty_uuid), str(job.image_uuid))
            elif isinstance(job, FanOutJob):
                self._fan_out.send(job.org)
            else:
                # A retry waits in the queue engine (Redis holds it back), not in a sleeping worker thread.
                self._deliver.send_with_options(args=(job.org, str(job.webhook_id)),
                                                delay=int(job.delay_seconds * 1000) or None)

    def backlog(self) -> int:
        return int(self.broker.do_qsize(RENDER_QUEUE))

    def depths(self) -> dict[str, int]:
        """Messages waiting in each queue (for operators)."""
        return {queue: int(self.broker.do_qsize(queue)) for queue in (RENDER_QUEUE, WEBHOOK_QUEUE)}


class InProcessJobQueue(DramatiqJobQueue):
    """Jobs run by a `dramatiq.Worker` inside this process, on Dramatiq's in-memory broker."""

    def __init__(self, run: Run, sweep: Sweep, threads: int,
                 sweep_interval: float = SWEEP_INTERVAL_SECONDS) -> None:
        super().__init__(StubBroker(), run)
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

    def depths(self) -> dict[str, int]:
        queues = self.broker.queues
        return {queue: sum(q.unfinished_tasks for name, q in queues.items() if name.startswith(queue))
                for queue in (RENDER_QUEUE, WEBHOOK_QUEUE)}

    def join(self, timeout_ms: int = 60_000) -> None:
        """Wait until no render job is queued or running, nor a webhook job that is due now (tests,
        benchmarks; a delivery held back for a retry may wait for hours)."""
        deadline = time.monotonic() + timeout_ms / 1000
        self.broker.join(RENDER_QUEUE, timeout=timeout_ms, fail_fast=False)
        webhooks = self.broker.queues.get(WEBHOOK_QUEUE)
        while webhooks is not None and webhooks.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        if self._worker is not None:
            self._worker.join()


def redis_queue(redis_url: str, run: Run, sweep: Sweep, *, heartbeat_timeout_s: float,
                sweep_interval: float = SWEEP_INTERVAL_SECONDS, timeout: float | None = None) -> DramatiqJobQueue:
    """`timeout`: seconds a Redis command may take; a save whose enqueue fails this way still answers
    (the sweep queues its jobs later) instead of waiting on a hung Redis."""
    client = redis.Redis.from_url(redis_url, socket_timeout=timeout, socket_connect_timeout=timeout)
    broker = RedisBroker(client=client, heartbeat_timeout=int(heartbeat_timeout_s * 1000),
                         maintenance_chance=MAINTENANCE_CHANCE)
    broker.add_middleware(_SweepInWorkers(_Sweeper(sweep, sweep_interval)))
    return DramatiqJobQueue(broker, run)
