"""Running Dramatiq's worker processes so that one dead process never stops rendering.

Dramatiq's CLI treats the death of any worker process (SIGKILL, the OOM killer, a segfault in a
decoder) as the end of all of them: its main process stops the others and exits, and rendering waits
for an operator. `supervise` runs each worker process in a group of its own (Dramatiq's main process
with one worker process) and starts a group again whenever it ends without being asked to. The dead
process's jobs were never acknowledged: Redis hands them out again once its heartbeat times out.

Signals sent to the supervisor (SIGTERM, SIGINT: stop; SIGHUP: Dramatiq's reload) are passed on to
every group, which then stops gracefully; the supervisor exits when all have. Each group runs in a
process group of its own, so a terminal's Ctrl+C reaches it once (through the supervisor), not twice:
Dramatiq takes a second signal as "kill now". A supervisor killed outright (SIGKILL) passes nothing on: each
group is started through parent_bound.py, so Linux sends it SIGTERM then and it stops gracefully as well.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

log = logging.getLogger(__name__)

_PARENT_BOUND = Path(__file__).with_name("parent_bound.py")
"""Starts each group so that it stops when the supervisor is killed (it could not pass the stop on)."""

RESTART_DELAY_S = 1.0
MAX_RESTART_DELAY_S = 30.0
"""A group that keeps dying (Redis unreachable at its start, a broken deployment) is started again at
most this often, rather than in a tight loop."""
STABLE_AFTER_S = 60.0
"""A group that ran this long before it ended is started again after RESTART_DELAY_S."""
POLL_S = 0.5
STOP_TIMEOUT_S = 660.0
"""How long stopping may take: Dramatiq lets running jobs finish (their time limit is 10 minutes)."""


@dataclass
class _Group:
    slot: int
    command: Sequence[str]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    delay: float = RESTART_DELAY_S
    restart_at: float = field(default=0.0)

    def start(self) -> None:
        bound = [sys.executable, str(_PARENT_BOUND), str(os.getpid()), *self.command]
        self.process = subprocess.Popen(bound, process_group=0)
        self.started_at = time.monotonic()
        log.info("render worker group %d started (pid %d)", self.slot, self.process.pid)

    def ended(self) -> int | None:
        return None if self.process is None else self.process.poll()


def dramatiq_command(broker: str, threads: int, path: str) -> list[str]:
    """Dramatiq's CLI for one worker process of `threads` threads, its broker set up by `broker`."""
    return [sys.executable, "-m", "dramatiq", broker, "--processes", "1", "--threads", str(threads),
            "--path", path]


def supervise(command: Sequence[str], processes: int) -> int:
    """Run `processes` groups of `command`, each started again when it ends unasked, until a signal
    stops them; returns the exit status for the supervisor."""
    groups = [_Group(slot, command) for slot in range(processes)]
    stopping: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        if signum != signal.SIGHUP:
            stopping.append(signum)
        for group in groups:
            if group.process is not None and group.process.poll() is None:
                group.process.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    for group in groups:
        group.start()
    while not stopping:
        now = time.monotonic()
        for group in groups:
            code = group.ended()
            if code is not None and group.restart_at == 0.0:
                ran = now - group.started_at
                group.delay = RESTART_DELAY_S if ran >= STABLE_AFTER_S else min(group.delay * 2, MAX_RESTART_DELAY_S)
                group.restart_at = now + group.delay
                log.error("render worker group %d (pid %d) ended with status %s after %.0f s; starting it again "
                          "in %.0f s", group.slot, group.process.pid, code, ran, group.delay)
            if group.restart_at and now >= group.restart_at and not stopping:
                group.restart_at = 0.0
                group.start()
        time.sleep(POLL_S)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for group in groups:
        if group.process is not None:
            try:
                group.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                group.process.kill()
    return 0
