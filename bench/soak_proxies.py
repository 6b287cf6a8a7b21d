"""The soak's fault proxies, in a process of their own: `python -m bench.soak_proxies NAME=HOST:PORT ...`.

One `tests.fault_proxy.FaultProxy` per backend. They run apart from the soak's 30 client threads
because each forwarded connection is a Python thread that polls every few milliseconds: sharing one
interpreter lock with the clients would slow every database and storage call by however busy the
clients happen to be, and the soak would measure that instead of the gateway.

Protocol, one line each way: the process first prints `{"NAME": port, ...}` as JSON, then reads
commands `cut NAME`, `freeze NAME`, `restore NAME` (or `restore all`) from stdin and answers `ok`
or `error ...` after each. It exits, cutting every connection, when stdin closes.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.fault_proxy import FaultProxy  # noqa: E402 - a test utility, reused as it is


def serve(targets: dict[str, tuple[str, int]]) -> None:
    proxies = {name: FaultProxy(host, port) for name, (host, port) in targets.items()}
    print(json.dumps({name: proxy.port for name, proxy in proxies.items()}), flush=True)
    try:
        for line in sys.stdin:
            print(_command(proxies, line.split()), flush=True)
    finally:
        for proxy in proxies.values():
            proxy.close()


def _command(proxies: dict[str, FaultProxy], words: list[str]) -> str:
    if len(words) != 2 or words[0] not in ("cut", "freeze", "restore"):
        return f"error: cannot read {' '.join(words)!r}"
    action, name = words
    chosen = list(proxies.values()) if name == "all" else [proxies[name]] if name in proxies else []
    if not chosen:
        return f"error: no proxy {name!r}"
    for proxy in chosen:
        getattr(proxy, action)()
    return "ok"


def main() -> None:
    targets = {}
    for arg in sys.argv[1:]:
        name, _, address = arg.partition("=")
        host, _, port = address.rpartition(":")
        targets[name] = (host, int(port))
    serve(targets)


if __name__ == "__main__":
    main()
