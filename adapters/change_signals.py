"""Waking long polls when an org's events are committed (core/ports.py ChangeSignals).

- `LocalChangeSignals`: within one process, a condition variable.
- `RedisChangeSignals`: the same, plus Redis pub/sub, so a commit in one process (a gateway worker, a
  render worker) wakes the long polls every other process holds. Announcements are published by a
  thread of their own, so a slow or frozen Redis never holds up the request that committed. Each
  process listens in a thread of its own, started by its first wait; a listener that loses Redis
  connects again, and meanwhile waits end at their timeout as they would with no event.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
from typing import Sequence

import redis

from core.ports import ChangeSignals

log = logging.getLogger(__name__)

CHANNEL = "realty-image-gateway:events"
RECONNECT_SECONDS = 1.0
SUBSCRIBE_WAIT_SECONDS = 1.0


class LocalChangeSignals(ChangeSignals):
    def __init__(self) -> None:
        self._versions: dict[str, int] = {}
        self._changed = threading.Condition()

    def announce(self, orgs: Sequence[str]) -> None:
        with self._changed:
            for org in set(orgs):
                self._versions[org] = self._versions.get(org, 0) + 1
            self._changed.notify_all()

    def version(self, org: str) -> int:
        with self._changed:
            return self._versions.get(org, 0)

    def wait(self, org: str, version: int, timeout: float) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._versions.get(org, 0) != version, timeout)


class RedisChangeSignals(LocalChangeSignals):
    def __init__(self, redis_url: str, timeout: float) -> None:
        super().__init__()
        self._publisher = redis.Redis.from_url(redis_url, socket_timeout=timeout, socket_connect_timeout=timeout)
        # Listening waits for messages as long as none come: no read timeout, but pings keep it honest.
        self._subscriber = redis.Redis.from_url(redis_url, socket_connect_timeout=timeout, socket_keepalive=True,
                                                health_check_interval=30)
        self._outbox: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._threads_pid: int | None = None
        self._subscribed = threading.Event()
        self._lock = threading.Lock()

    def announce(self, orgs: Sequence[str]) -> None:
        super().announce(orgs)  # this process's own waits, without the round trip
        self._start_threads()
        for org in set(orgs):
            self._outbox.put(org)

    def wait(self, org: str, version: int, timeout: float) -> None:
        self._start_threads()
        # A process's first long poll would miss what is published before it listens. Only a wait needs
        # that: an announce is queued for the publishing thread, and must not hold the write that made it
        # (with Redis frozen, a save's first announce waited here a whole second on top of the job queue).
        self._subscribed.wait(SUBSCRIBE_WAIT_SECONDS)
        super().wait(org, version, timeout)

    def _start_threads(self) -> None:
        if self._threads_pid == os.getpid():
            return
        with self._lock:  # once per process: a forked one has none of its parent's threads
            if self._threads_pid != os.getpid():
                threading.Thread(target=self._publish, name="event-signals-out", daemon=True).start()
                threading.Thread(target=self._listen, name="event-signals-in", daemon=True).start()
                self._threads_pid = os.getpid()

    def _publish(self) -> None:
        while True:
            org = self._outbox.get()
            try:
                self._publisher.publish(CHANNEL, org)
            except redis.RedisError:  # the other processes' waits end at their timeout instead
                log.warning("could not announce events of org %r through Redis", org, exc_info=True)

    def _listen(self) -> None:
        while True:
            try:
                pubsub = self._subscriber.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(CHANNEL)
                pubsub.get_message(timeout=SUBSCRIBE_WAIT_SECONDS, ignore_subscribe_messages=False)
                self._subscribed.set()
                for message in pubsub.listen():
                    LocalChangeSignals.announce(self, [message["data"].decode("utf-8", "replace")])
            except redis.RedisError:
                log.warning("lost the event signals from Redis; listening again", exc_info=True)
                threading.Event().wait(RECONNECT_SECONDS)
