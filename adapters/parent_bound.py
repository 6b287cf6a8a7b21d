"""Run a command that is sent SIGTERM when the process that started it dies: `python parent_bound.py <pid> <command...>`.

The worker command starts each of its queue engine's main processes in a process group of its own (so that one
dying is noticed and started again, see dramatiq_workers.py). Killed with SIGKILL, the worker command could not
pass a stop on, and those processes would render on, unsupervised, beside the command started again in its
place. Linux's parent-death signal, armed here and kept across exec, stops them gracefully instead.
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> None:
    parent, command = int(argv[1]), argv[2:]
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the signal was armed: nobody would send it
            sys.exit(1)
    os.execv(command[0], command)


if __name__ == "__main__":
    main(sys.argv)
