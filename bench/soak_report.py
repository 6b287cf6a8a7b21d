"""The soak's tables: requests by kind and status, faults injected, notes, and violations per invariant."""
from __future__ import annotations

from collections import defaultdict

from bench.soak_tally import INVARIANTS, Tally

DETAILS_SHOWN = 8


def print_report(tally: Tally, facts: list[tuple[str, str]]) -> None:
    _section("run")
    for name, value in facts:
        print(f"{name:<44} {value}")
    _requests(tally)
    _section("faults injected")
    for what, n in sorted(tally.faults.items()):
        print(f"{what:<60} {n:>6}")
    _section("notes")
    for what, n in sorted(tally.notes.items()):
        print(f"{what:<72} {n:>6}")
    _invariants(tally)


def _section(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 100 - len(title)))


def _requests(tally: Tally) -> None:
    _section("requests by kind and status")
    by_kind: defaultdict[str, dict[str, int]] = defaultdict(dict)
    for (kind, label), n in tally.requests.items():
        by_kind[kind][label] = n
    print(f"{'kind':<30} {'total':>7}  by status")
    for kind in sorted(by_kind):
        labels = by_kind[kind]
        shown = "  ".join(f"{label}: {n}" for label, n in sorted(labels.items()))
        print(f"{kind:<30} {sum(labels.values()):>7}  {shown}")
    print(f"{'all':<30} {sum(tally.requests.values()):>7}")


def _invariants(tally: Tally) -> None:
    _section("invariants")
    print(f"{'invariant':<66} {'violations':>10}")
    for name, sentence in INVARIANTS.items():
        print(f"{sentence:<66} {tally.violated(name):>10}")
    print(f"{'all':<66} {sum(tally.violated(name) for name in INVARIANTS):>10}")
    for name, sentence in INVARIANTS.items():
        found = tally.violations.get(name, [])
        if not found:
            continue
        print(f"\n-- {sentence}: {tally.violated(name)} (first {min(len(found), DETAILS_SHOWN)} of {len(found)} shown)")
        for detail, count in found[:DETAILS_SHOWN]:
            print(f"   {detail}" + (f"  (x{count})" if count > 1 else ""))
