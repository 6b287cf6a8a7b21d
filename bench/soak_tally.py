"""What the soak counts while it runs, shared by every client thread, the fault schedule and the checks."""
from __future__ import annotations

import threading
from collections import Counter, defaultdict
from dataclasses import dataclass

INVARIANTS = {
    "files": "every listed file downloads and matches",
    "orphans": "no orphan in the bucket after a final gc",
    "ledger": "blob rows count every image using them",
    "pending": "nothing left PENDING once recovered (rendering never stalls)",
    "failed": "no image FAILED (every upload is a valid image)",
    "positions": "positions dense 0..n-1 per realty",
    "hero": "at most one hero per realty",
    "cap": "at most 200 images per realty",
    "5xx": "no HTTP 5xx but 503 (nor GraphQL INTERNAL_SERVER_ERROR)",
    "answered": "every request answered (but the killed gunicorn worker's)",
    "once": "retried writes done once (no image nobody was told of)",
    "kept": "acknowledged images kept (none lost)",
    "agree": "reads agree with the acknowledged writes (own realties)",
    "refused": "no write on a client's own realty refused",
    "resolved": "every write answered within its retry budget",
    "restarted": "killed processes started again",
}
"""Each invariant the soak checks, by short name; the table prints them all, violated or not."""


@dataclass(frozen=True)
class Created:
    realty: str
    via: str
    key: str


class Tally:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, str]] = Counter()
        self.faults: Counter[str] = Counter()
        self.notes: Counter[str] = Counter()
        self.violations: defaultdict[str, list[tuple[str, int]]] = defaultdict(list)
        """Per invariant: (what was seen, how many times)."""
        self.created: dict[str, Created] = {}
        self.deleted: set[str] = set()
        self.unresolved_md5s: set[str] = set()
        """Bytes of uploads whose write never got an answer: an image of them is not counted as made behind
        a client's back (that write is a violation of its own)."""
        self.maybe_deleted: set[str] = set()
        """Images a delete was sent for that never got an answer."""
        self.dropped: list[tuple[float, str, str]] = []
        """(monotonic time it was sent, request kind, error) of every gateway request that got no answer."""
        self.gunicorn_kills: list[float] = []

    def request(self, kind: str, label: str) -> None:
        with self._lock:
            self.requests[(kind, label)] += 1

    def fault(self, what: str) -> None:
        with self._lock:
            self.faults[what] += 1

    def note(self, what: str, n: int = 1) -> None:
        with self._lock:
            self.notes[what] += n

    def violation(self, invariant: str, detail: str, count: int = 1) -> None:
        assert invariant in INVARIANTS, invariant
        with self._lock:
            self.violations[invariant].append((detail, count))

    def violated(self, invariant: str) -> int:
        with self._lock:
            return sum(count for _, count in self.violations.get(invariant, []))

    def made(self, image_ids: list[str], realty: str, via: str, key: str) -> None:
        with self._lock:
            for image_id in image_ids:
                self.created[image_id] = Created(realty, via, key)

    def removed(self, image_id: str) -> None:
        with self._lock:
            self.deleted.add(image_id)

    def unanswered_uploads(self, md5s: list[str]) -> None:
        with self._lock:
            self.unresolved_md5s.update(md5s)

    def unanswered(self, sent_at: float, kind: str, error: str) -> None:
        with self._lock:
            self.dropped.append((sent_at, kind, error))

    def maybe_removed(self, image_id: str) -> None:
        with self._lock:
            self.maybe_deleted.add(image_id)
