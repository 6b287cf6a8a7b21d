"""What breaks during the soak, and when: backend faults through the proxies, killed processes, and `gc`
every 30 s as cron would run it.

The schedule is spread over the run by fractions of its length, so a short debugging run meets every
kind of fault too (those that no longer fit are skipped). Faults run one at a time: each backend is cut
(connections reset, new ones refused) and frozen (nothing passes, nothing is refused) twice, for a few
seconds, longer than BACKEND_TIMEOUT so that requests meet 503s and not only slow answers. A render
worker process and a gunicorn worker are killed twice each: once on their own, and once a second into a
PostgreSQL fault, so that the replacement has to start while the database is out of reach.
"""
from __future__ import annotations

import random
import signal
import threading
import time
from dataclasses import dataclass

from bench.soak_stack import Stack, identities, kill
from bench.soak_tally import Tally

BACKENDS = {"postgres": "PostgreSQL", "s3": "S3", "redis": "Redis"}
GC_EVERY = 30.0
RESTART_WITHIN = 60.0
"""Seconds a killed process may take to be replaced: the worker command restarts a group after a second
or two, and a new Dramatiq or gunicorn process boots in a few more on a loaded machine."""


@dataclass(frozen=True)
class Fault:
    at: float
    """When, as a fraction of the run."""
    action: str
    """cut, freeze, or kill."""
    target: str
    """A backend (postgres, s3, redis), or for kill: render (a Dramatiq worker process) or gunicorn."""
    seconds: float = 0.0
    kill: str | None = None
    """A process (render, gunicorn) killed a second into a backend fault: its replacement starts while the
    backend is out of reach, as after an OOM kill during an outage."""


PLAN = (
    Fault(0.06, "cut", "postgres", 5), Fault(0.13, "freeze", "s3", 6), Fault(0.20, "kill", "render"),
    Fault(0.26, "cut", "redis", 5), Fault(0.33, "freeze", "postgres", 7, kill="render"), Fault(0.40, "cut", "s3", 5),
    Fault(0.47, "kill", "gunicorn"), Fault(0.53, "freeze", "redis", 8), Fault(0.60, "cut", "postgres", 6, "gunicorn"),
    Fault(0.67, "freeze", "s3", 8), Fault(0.74, "cut", "redis", 4), Fault(0.80, "freeze", "postgres", 6),
    Fault(0.86, "cut", "s3", 6), Fault(0.92, "freeze", "redis", 5),
)


class FaultSchedule:
    def __init__(self, stack: Stack, tally: Tally, seconds: float, stop: threading.Event) -> None:
        self.stack = stack
        self.tally = tally
        self.seconds = seconds
        self.stop = stop
        self._watchers: list[threading.Thread] = []

    def run(self) -> None:
        """Apply the plan from now on; every backend is restored when it ends, however it ends."""
        started = time.monotonic()
        try:
            for fault in PLAN:
                if self.stop.wait(max(0.0, started + fault.at * self.seconds - time.monotonic())):
                    break
                if time.monotonic() + fault.seconds > started + self.seconds:
                    self.tally.fault(f"skipped: {fault.action} {fault.target} (no time left)")
                    continue
                self._apply(fault)
        finally:
            self.stack.proxy("restore", "all")

    def gc_loop(self) -> None:
        while not self.stop.wait(GC_EVERY):
            counts = self.stack.gc()
            self.tally.fault("gc runs, ok" if counts is not None else "gc runs, failed (a backend was down)")

    def join_watchers(self, timeout: float) -> None:
        for watcher in self._watchers:
            watcher.join(timeout)

    def _apply(self, fault: Fault) -> None:
        if fault.action == "kill":
            self._kill(fault.target)
            return
        self.stack.proxy(fault.action, fault.target)
        self.tally.fault(f"{BACKENDS[fault.target]} {fault.action} ({fault.seconds:.0f} s)")
        if fault.kill and not self.stop.wait(1.0):
            self._kill(fault.kill, f" during a {BACKENDS[fault.target]} {fault.action}")
            self.stop.wait(fault.seconds - 1.0)
        else:
            self.stop.wait(fault.seconds)
        self.stack.proxy("restore", fault.target)

    def _kill(self, target: str, during: str = "") -> None:
        processes = self.stack.render_processes if target == "render" else self.stack.gunicorn_workers
        before = processes()
        if not before:
            self.tally.violation("restarted", f"no {target} process to kill")
            return
        victim = random.choice(before)
        if target == "gunicorn":
            self.tally.gunicorn_kills.append(time.monotonic())
        kill(identities([victim]), signal.SIGKILL)
        what = "render worker process" if target == "render" else "gunicorn worker"
        self.tally.fault(f"{what} kill -9{during}")
        watcher = threading.Thread(target=self._watch_restart, args=(target, processes, before, victim), daemon=True)
        watcher.start()
        self._watchers.append(watcher)

    def _watch_restart(self, target: str, processes, before: list[int], victim: int) -> None:
        """The killed process's place must be taken by a new one, with no operator."""
        killed_at = time.monotonic()
        while time.monotonic() - killed_at < RESTART_WITHIN:
            now = processes()
            if victim not in now and len(now) >= len(before) and set(now) - set(before):
                self.tally.note(f"{target} process replaced after kill -9 in {time.monotonic() - killed_at:.0f} s")
                return
            time.sleep(0.5)
        self.tally.violation("restarted", f"{target} process {victim} killed; {processes()} running "
                                          f"{RESTART_WITHIN:.0f} s later (were {before})")
